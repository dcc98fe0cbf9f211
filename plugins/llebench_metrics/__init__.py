"""Built-in plugin: image-quality and efficiency metrics."""

from llebench import hookimpl

from llebench_metrics.efficiency import Seconds
from llebench_metrics.pyiqa_bridge import NIQE, PSNR, SSIM


@hookimpl
def llebench_register_metrics(register):
    for metric in (NIQE, PSNR, SSIM, Seconds):
        register(metric)
