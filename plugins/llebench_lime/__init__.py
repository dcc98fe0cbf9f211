"""Built-in plugin: LIME (Guo, Li, Ling, TIP 2017), the ``lime`` enhancer.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    register(Deferred("lime", "llebench_lime.enhancer:Lime"))
