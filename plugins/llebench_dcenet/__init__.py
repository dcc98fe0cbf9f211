"""Built-in plugin: the DCE-Net family — Zero-DCE and SCL-LLE, their enhancers and their
training recipes (``llebench train zero_dce``, ``llebench train scl_lle``), and SCL-LLE's
contrastive terms as losses any trainer can add (``scl_gram``, ``scl_brightness``).

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    for name, target in (
        ("zero_dce", "llebench_dcenet.enhancers:ZeroDCE"),
        ("scl_lle", "llebench_dcenet.enhancers:SCLLLE"),
    ):
        register(Deferred(name, target))


@hookimpl
def llebench_register_trainers(register):
    for name, target in (
        ("zero_dce", "llebench_dcenet.zero_dce_trainer:ZeroDCETrainer"),
        ("scl_lle", "llebench_dcenet.scl_trainer:SCLLLETrainer"),
    ):
        register(Deferred(name, target))


@hookimpl
def llebench_register_losses(register):
    for name, target in (
        ("scl_gram", "llebench_dcenet.scl_terms:SCLGram"),
        ("scl_brightness", "llebench_dcenet.scl_terms:SCLBrightness"),
    ):
        register(Deferred(name, target))
