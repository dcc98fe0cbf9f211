"""Built-in plugin: Zero-DCE++ (Li, Guo, Loy, TPAMI 2021), the ``zero_dce_pp`` enhancer."""

from llebench.sdk import hookimpl

from llebench_zero_dce_pp.enhancer import ZeroDCEPlusPlus


@hookimpl
def llebench_register_enhancers(register):
    register(ZeroDCEPlusPlus)
