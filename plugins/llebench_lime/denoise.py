"""LIME's optional denoising (Sec. III-D / the authors' demo): BM3D on Y, recomposed with T.

    Y, Cb, Cr = YCbCr(R)          (BT.601, MATLAB ``rgb2ycbcr`` convention, as the demo)
    R_d = RGB(BM3D(Y, sigma), Cb, Cr)
    R_f = R o T + R_d o (1 - T)   (bright, well-lit pixels keep R; dark ones take R_d)

BM3D comes from the ``bm3d`` package (Tampere University, free for non-commercial use
only), an optional extra: ``pip install 'llebench[lime-denoise]'``. It is imported only
when denoising is asked for.
"""

from __future__ import annotations

import importlib

import numpy as np
from skimage.color import rgb2ycbcr, ycbcr2rgb

from llebench.sdk import LLEBenchError

#: the demo's sigma_BM3D = 10, on the 0-255 scale
DEFAULT_SIGMA = 10.0


def load_bm3d():
    """The ``bm3d`` module, or an error that says how to install it."""
    try:
        return importlib.import_module("bm3d")
    except ImportError as exc:
        raise LLEBenchError(
            "lime: denoise=true needs the optional 'bm3d' package (free for non-commercial use only); "
            "install it with: pip install 'llebench[lime-denoise]'  (or: pip install bm3d)"
        ) from exc


def denoise_recompose(enhanced: np.ndarray, illumination: np.ndarray, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """R_f = R o T + BM3D_Y(R) o (1 - T) for HxWx3 ``enhanced`` R and HxW ``illumination`` T."""
    bm3d = load_bm3d()
    ycbcr = rgb2ycbcr(np.clip(enhanced, 0.0, 1.0))  # Y in [16, 235]
    luma = ycbcr[..., 0] / 255.0
    ycbcr[..., 0] = np.asarray(bm3d.bm3d(luma, sigma_psd=sigma / 255.0)).reshape(luma.shape) * 255.0
    denoised = ycbcr2rgb(ycbcr)
    weight = illumination[..., None]
    return enhanced * weight + denoised * (1.0 - weight)
