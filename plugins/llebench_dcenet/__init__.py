"""Built-in plugin: the DCE-Net family — Zero-DCE and SCL-LLE, their enhancers and their
training recipes (``llebench train zero_dce``, ``llebench train scl_lle``)."""

from llebench.sdk import hookimpl

from llebench_dcenet.enhancers import SCLLLE, ZeroDCE
from llebench_dcenet.scl_trainer import SCLLLETrainer
from llebench_dcenet.zero_dce_trainer import ZeroDCETrainer


@hookimpl
def llebench_register_enhancers(register):
    register(ZeroDCE)
    register(SCLLLE)


@hookimpl
def llebench_register_trainers(register):
    register(ZeroDCETrainer)
    register(SCLLLETrainer)
