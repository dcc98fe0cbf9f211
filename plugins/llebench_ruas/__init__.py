"""Built-in plugin: RUAS (Liu et al., CVPR 2021), the ``ruas`` enhancer with the authors'
three checkpoints (variants ``upe``, ``lol``, ``dark``).

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    register(Deferred("ruas", "llebench_ruas.enhancer:RUAS"))
