"""Contrastive training terms any llebench trainer can add with ``[[losses]]``:
AECR-Net's contrastive regularisation (``cr``) and CUT's PatchNCE (``patchnce``).

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_losses(register):
    for name, target in (
        ("cr", "llebench_contrastive.cr:ContrastiveRegularization"),
        ("patchnce", "llebench_contrastive.patchnce:PatchNCE"),
    ):
        register(Deferred(name, target))
