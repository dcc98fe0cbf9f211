"""Built-in plugin: PairLIE (Fu et al., CVPR 2023), the ``pairlie`` enhancer.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    register(Deferred("pairlie", "llebench_pairlie.enhancer:PairLIE"))
