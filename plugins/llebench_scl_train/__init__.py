"""Built-in plugin: the SCL-LLE training recipe (``llebench train scl_lle``)."""

from llebench import hookimpl

from llebench_scl_train.trainer import SCLLLETrainer


@hookimpl
def llebench_register_trainers(register):
    register(SCLLLETrainer)
