"""Built-in plugin: image-quality (pyiqa, LOE) and efficiency metrics.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl

#: (name, class) of the metrics in each module
METRICS = {
    "llebench_metrics.pyiqa_bridge": (
        ("niqe", "NIQE"), ("unique", "UNIQUE"), ("brisque", "BRISQUE"), ("musiq", "MUSIQ"), ("lpips", "LPIPS"),
        ("ms_ssim", "MSSSIM"), ("psnr", "PSNR"), ("psnr_y", "PSNRY"), ("ssim", "SSIM"), ("ssim_rgb", "SSIMRGB"),
        ("psnr_gtmean", "PSNRGTMean"), ("ssim_gtmean", "SSIMGTMean"), ("pyiqa", "PyiqaByName"),
    ),
    "llebench_metrics.loe": (("loe", "LOE"), ("loe_lime", "LOELIME"), ("loe_npe_code", "LOENPECode")),
    "llebench_metrics.efficiency": (
        ("seconds", "Seconds"), ("seconds_median", "SecondsMedian"), ("params", "Params"), ("flops", "FLOPs"),
    ),
}


@hookimpl
def llebench_register_metrics(register):
    for module, metrics in METRICS.items():
        for name, cls in metrics:
            register(Deferred(name, f"{module}:{cls}"))
