"""Built-in plugin: the Zero-DCE training recipe (``llebench train zero_dce``)."""

from llebench import hookimpl
from llebench_zero_dce_train.trainer import ZeroDCETrainer


@hookimpl
def llebench_register_trainers(register):
    register(ZeroDCETrainer)
