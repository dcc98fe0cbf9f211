"""Built-in plugin: the DCE-Net family — Zero-DCE and SCL-LLE, their enhancers and their
training recipes (``llebench train zero_dce``, ``llebench train scl_lle``), and SCL-LLE's
contrastive terms as losses any trainer can add (``scl_gram``, ``scl_brightness``)."""

from llebench.sdk import hookimpl

from llebench_dcenet.enhancers import SCLLLE, ZeroDCE
from llebench_dcenet.scl_terms import SCLBrightness, SCLGram
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


@hookimpl
def llebench_register_losses(register):
    register(SCLGram)
    register(SCLBrightness)
