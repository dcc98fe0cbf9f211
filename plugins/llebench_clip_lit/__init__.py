"""Built-in plugin: CLIP-LIT (Liang et al., ICCV 2023), the ``clip_lit`` enhancer.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    register(Deferred("clip_lit", "llebench_clip_lit.enhancer:CLIPLIT"))
