"""Built-in plugin: the DCE-Net family (Zero-DCE, SCL-LLE)."""

from llebench import hookimpl

from llebench_dcenet.enhancers import SCLLLE, ZeroDCE


@hookimpl
def llebench_register_enhancers(register):
    register(ZeroDCE)
    register(SCLLLE)
