"""Contrastive training terms any llebench trainer can add with ``[[losses]]``:
AECR-Net's contrastive regularisation (``cr``) and CUT's PatchNCE (``patchnce``).

The loss modules import torch; they are imported only when the losses are registered.
"""

from llebench.sdk import hookimpl


@hookimpl
def llebench_register_losses(register):
    from llebench_contrastive.cr import ContrastiveRegularization
    from llebench_contrastive.patchnce import PatchNCE

    register(ContrastiveRegularization)
    register(PatchNCE)
