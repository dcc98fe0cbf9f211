"""Built-in plugin: URetinex-Net (Wu et al., CVPR 2022), the ``uretinex`` enhancer, with the
official weights and test procedure.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    register(Deferred("uretinex", "llebench_uretinex.enhancer:URetinexNet"))
