"""Built-in plugin: Zero-DCE++ (Li, Guo, Loy, TPAMI 2021), the ``zero_dce_pp`` enhancer.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    register(Deferred("zero_dce_pp", "llebench_zero_dce_pp.enhancer:ZeroDCEPlusPlus"))
