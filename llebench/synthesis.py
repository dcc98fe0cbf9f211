"""Making a plausible low-light capture of a well-exposed photo (synthetic pairs).

The usual recipe: a gamma curve and an exposure scale, then sensor-like noise (Poisson
shot noise plus Gaussian read noise), clipped to [0, 1]. Parameters come from a generator
seeded by the caller (llebench seeds with crc32 of the file name), so every machine makes
the same pixels. Shared by the built-in ``sample`` dataset and synthetic training pairs.
"""

from __future__ import annotations

from typing import Any

GAMMA_RANGE = (1.8, 2.6)
EXPOSURE_RANGE = (0.25, 0.45)
PHOTONS = 600.0  # full-well photon count: shot-noise strength
READ_NOISE = 0.004


def darken(reference: Any, seed: int) -> Any:
    """Reference HxWx3 float array in [0,1] -> a low-light capture of it (float64 in [0, 1])."""
    import numpy as np

    rng = np.random.default_rng(seed)
    gamma = rng.uniform(*GAMMA_RANGE)
    exposure = rng.uniform(*EXPOSURE_RANGE)
    signal = exposure * np.power(reference, gamma)
    shot = rng.poisson(signal * PHOTONS) / PHOTONS
    noisy = shot + rng.normal(0.0, READ_NOISE, size=signal.shape)
    return np.clip(noisy, 0.0, 1.0)


def darken_settings() -> dict[str, Any]:
    """The parameters of :func:`darken`, for the settings (and so the manifest) of whatever uses it."""
    return {"gamma_range": GAMMA_RANGE, "exposure_range": EXPOSURE_RANGE, "photons": PHOTONS, "read_noise": READ_NOISE}
