"""Built-in plugin: SCI, Self-Calibrated Illumination (Ma et al., CVPR 2022), official weights.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    register(Deferred("sci", "llebench_sci.enhancer:SCI"))
