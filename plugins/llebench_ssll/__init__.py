"""Built-in plugin: SSLL (semi-supervised LLE, Mean Teacher + CutMix + PICo) — trainer, enhancer, report.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    register(Deferred("ssll", "llebench_ssll.enhancer:SSLL"))


@hookimpl
def llebench_register_trainers(register):
    register(Deferred("ssll", "llebench_ssll.trainer:SSLLTrainer"))


@hookimpl
def llebench_register_datasets(register):
    register(Deferred("sice_synthetic", "llebench_ssll.synthetic_dataset:SICESynthetic"))


@hookimpl
def llebench_register_reports(register):
    register(Deferred("ssll_delta", "llebench_ssll.report:SSLLDelta"))
