"""Built-in plugin: SSLL (semi-supervised LLE, Mean Teacher + CutMix + PICo) — trainer, enhancer, report."""

from llebench.sdk import hookimpl

from llebench_ssll.enhancer import SSLL
from llebench_ssll.report import SSLLDelta
from llebench_ssll.synthetic_dataset import SICESynthetic
from llebench_ssll.trainer import SSLLTrainer


@hookimpl
def llebench_register_enhancers(register):
    register(SSLL)


@hookimpl
def llebench_register_trainers(register):
    register(SSLLTrainer)


@hookimpl
def llebench_register_datasets(register):
    register(SICESynthetic)


@hookimpl
def llebench_register_reports(register):
    register(SSLLDelta)
