"""Classical baselines with OpenCV: histogram equalisation, CLAHE and gamma correction.

None of them has official code or weights: each is one OpenCV call on 8-bit data, and the
choices around that call (which channel, which parameters) are stated in ``settings()``
and in this package's README.

All three work on the image quantised to 8 bits, ``floor(255 x + 0.5)`` (the runner's own
rule, so an image read from an 8-bit file is recovered exactly), and return ``uint8 / 255``:
such values survive the runner's rounding unchanged, so the cached PNG is exactly what
the OpenCV call produced.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch

from llebench.sdk import Context, Enhancer, LLEBenchError

#: colour space -> (RGB -> space, space -> RGB); the equalised channel is channel 0 (luma Y, or L*)
SPACES: dict[str, tuple[int, int] | None] = {
    "ycrcb": (cv2.COLOR_RGB2YCrCb, cv2.COLOR_YCrCb2RGB),
    "lab": (cv2.COLOR_RGB2Lab, cv2.COLOR_Lab2RGB),
    "rgb": None,  # each of R, G, B equalised on its own
}
DEFAULT_SPACE = "ycrcb"

Channel8 = Callable[[np.ndarray], np.ndarray]


def to_planes(image: torch.Tensor) -> np.ndarray:
    """1x3xHxW [0, 1] tensor -> 3xHxW uint8 array (R, G, B planes), ``floor(255 x + 0.5)`` as the runner rounds.

    In numpy (one thread, no OpenMP fork/join per op), and in the order of the runner's own
    rule: clamping after ``255 x + 0.5`` gives the same levels as clamping x first.
    """
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise LLEBenchError(f"expected a 1x3xHxW image, got shape {tuple(image.shape)}")
    values = image.detach()[0].to("cpu", torch.float32).numpy()
    scaled = np.multiply(values, np.float32(255.0))
    np.add(scaled, np.float32(0.5), out=scaled)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    return scaled.astype(np.uint8)  # truncation = floor for these non-negative values


def from_planes(planes: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """3xHxW uint8 array -> 1x3xHxW float32 tensor of values k/255 on ``like``'s device."""
    values = planes.astype(np.float32)
    np.divide(values, np.float32(255.0), out=values)
    return torch.from_numpy(values).unsqueeze(0).to(like.device)


def equalise_channels(planes: np.ndarray, space: str, equalise: Channel8) -> np.ndarray:
    """Apply ``equalise`` (uint8 HxW -> uint8 HxW) to the chosen channel(s) of 3xHxW RGB planes."""
    conversion = SPACES[space]
    if conversion is None:
        return np.stack([equalise(plane) for plane in planes])
    forward, backward = conversion
    converted = cv2.cvtColor(cv2.merge(list(planes)), forward)
    lightness, first, second = cv2.split(converted)
    return np.stack(cv2.split(cv2.cvtColor(cv2.merge([equalise(lightness), first, second]), backward)))


def parse_variant(method: str, variant: Any, keys: tuple[str, ...]) -> dict[str, str]:
    """A variant string as shown in ``scores.csv`` (``clip=4,grid=8x8,lab``) -> ``{key: text}``.

    A token ``KEY=VALUE`` sets one of ``keys``; a bare token is a colour space (``space``).
    """
    if not isinstance(variant, str) or not variant.strip():
        raise LLEBenchError(f"{method}: variant must be a non-empty string, got {variant!r}")
    found: dict[str, str] = {}
    for token in variant.split(","):
        key, sep, value = token.strip().partition("=")
        if not sep:
            key, value = "space", key
        if key not in keys or key in found or not value:
            expected = ", ".join(f"{k}=VALUE" if k != "space" else "a colour space" for k in keys)
            raise LLEBenchError(f"{method}: cannot read variant {variant!r} (expected comma-separated {expected})")
        found[key] = value
    return found


def merge_option(method: str, name: str, given: Any, from_variant: Any, default: Any) -> Any:
    """An option given directly and/or through the variant; both must agree."""
    if given is not None and from_variant is not None and given != from_variant:
        raise LLEBenchError(f"{method}: {name}={given!r} disagrees with the variant's {from_variant!r}; give one")
    if given is not None:
        return given
    return default if from_variant is None else from_variant


def check_space(method: str, space: Any) -> str:
    if space not in SPACES:
        raise LLEBenchError(f"{method}: space must be one of {', '.join(SPACES)}, got {space!r}")
    return space


def positive_number(method: str, name: str, value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise LLEBenchError(f"{method}: {name} must be a positive number, got {value!r}")
    return float(value)


class ClassicalEnhancer(Enhancer):
    """What the three share: no network, no weights, 8-bit OpenCV processing on the CPU."""

    licence = "no weights (a training-free method); OpenCV is Apache 2.0"

    def network(self) -> None:
        return None

    def process(self, planes: np.ndarray) -> np.ndarray:
        """3xHxW uint8 R, G, B planes -> the same for the output."""
        raise NotImplementedError

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        return from_planes(self.process(to_planes(image)), image)


class HistogramEqualisation(ClassicalEnhancer):
    """Global histogram equalisation (``cv2.equalizeHist``) of one channel.

    Options: ``space`` ("ycrcb": the luma Y of BT.601 YCrCb, the default; "lab": L* of
    CIELAB; "rgb": R, G and B each on its own), or equally ``variant`` (the same names).
    """

    name = "he"
    description = "histogram equalisation (cv2.equalizeHist) of the luma Y of YCrCb"
    paper = "Digital Image Processing, 3rd ed., section 3.3.1 Histogram Equalization (Gonzalez, Woods)"
    venue, year = "textbook, Prentice Hall", 2008
    variants = tuple(SPACES)
    #: None: every output pixel depends on the whole image's histogram
    tile_halo = None

    def __init__(self, context: Context | None = None, variant: str | None = None, space: str | None = None) -> None:
        super().__init__(context)
        chosen = parse_variant(self.name, variant, ("space",)).get("space") if variant is not None else None
        self.space = check_space(self.name, merge_option(self.name, "space", space, chosen, DEFAULT_SPACE))

    @property
    def variant(self) -> str:
        return self.space

    def settings(self) -> dict[str, Any]:
        return {"space": self.space, "channel": "Y" if self.space == "ycrcb" else "L*" if self.space == "lab" else "R, G, B",
                "call": "cv2.equalizeHist (256 bins, lut = round(255 * (cdf - cdf_min) / (N - cdf_min)))",
                "input": "8 bits, floor(255 x + 0.5)", "opencv": cv2.__version__}

    def process(self, planes: np.ndarray) -> np.ndarray:
        return equalise_channels(planes, self.space, cv2.equalizeHist)


DEFAULT_CLIP = 2.0
DEFAULT_GRID = (8, 8)
_GRID = re.compile(r"([1-9][0-9]*)x([1-9][0-9]*)")


def parse_grid(method: str, grid: Any) -> tuple[int, int]:
    """``8``, ``[8, 4]`` or ``"8x4"`` -> (tiles across, tiles down), OpenCV's ``tileGridSize`` order."""
    if isinstance(grid, int) and not isinstance(grid, bool):
        grid = (grid, grid)
    elif isinstance(grid, str) and _GRID.fullmatch(grid.strip()):
        grid = tuple(int(part) for part in _GRID.fullmatch(grid.strip()).groups())
    if (not isinstance(grid, (list, tuple)) or len(grid) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in grid)):
        raise LLEBenchError(f"{method}: grid must be a positive integer, [across, down] or 'ACROSSxDOWN' "
                            f"(e.g. 8 or '8x8'), got {grid!r}")
    return int(grid[0]), int(grid[1])


class CLAHE(ClassicalEnhancer):
    """Contrast-limited adaptive histogram equalisation (``cv2.createCLAHE(...).apply``) of one channel.

    Options: ``clip_limit`` (OpenCV's clipLimit: each tile's histogram is clipped at
    clip_limit x tile pixels / 256 and the excess spread over all bins; default 2.0),
    ``grid`` (tiles across x down, default 8x8), ``space`` (as ``he``: "ycrcb" default,
    "lab", "rgb"), or all of them as one ``variant`` string (``clip=4,grid=8x8,lab``).
    """

    name = "clahe"
    description = "CLAHE (cv2.createCLAHE, clip 2.0, 8x8 tiles) of the luma Y of YCrCb"
    paper = ("Contrast Limited Adaptive Histogram Equalization (Zuiderveld), Graphics Gems IV; "
             "Adaptive histogram equalization and its variations (Pizer et al., CVGIP 1987)")
    venue, year = "Graphics Gems IV (Academic Press)", 1994
    variants = ("clip=2,grid=8x8", "clip=4,grid=8x8", "clip=40,grid=8x8")
    #: None: each pixel interpolates the mappings of the four nearest tiles, whose
    #: histograms cover the whole tile; tiles themselves depend on the image size
    tile_halo = None

    def __init__(self, context: Context | None = None, variant: str | None = None, clip_limit: float | None = None,
                 grid: Any = None, space: str | None = None) -> None:
        super().__init__(context)
        parsed = parse_variant(self.name, variant, ("clip", "grid", "space")) if variant is not None else {}
        clip_v = positive_number(self.name, "clip", parsed["clip"]) if "clip" in parsed else None
        clip_o = positive_number(self.name, "clip_limit", clip_limit) if clip_limit is not None else None
        self.clip_limit = merge_option(self.name, "clip_limit", clip_o, clip_v, DEFAULT_CLIP)
        grid_v = parse_grid(self.name, parsed["grid"]) if "grid" in parsed else None
        grid_o = parse_grid(self.name, grid) if grid is not None else None
        self.grid = merge_option(self.name, "grid", grid_o, grid_v, DEFAULT_GRID)
        self.space = check_space(self.name, merge_option(self.name, "space", space, parsed.get("space"),
                                                         DEFAULT_SPACE))
        self._clahe = cv2.createCLAHE(clipLimit=self.clip_limit, tileGridSize=self.grid)

    @property
    def variant(self) -> str:
        text = f"clip={self.clip_limit:g},grid={self.grid[0]}x{self.grid[1]}"
        return text if self.space == DEFAULT_SPACE else f"{text},{self.space}"

    def settings(self) -> dict[str, Any]:
        return {"clip_limit": self.clip_limit, "grid": list(self.grid), "space": self.space,
                "call": "cv2.createCLAHE(clipLimit, tileGridSize=(across, down)).apply",
                "borders": "OpenCV pads the image to a multiple of the grid (BORDER_REFLECT_101)",
                "input": "8 bits, floor(255 x + 0.5)", "opencv": cv2.__version__}

    def process(self, planes: np.ndarray) -> np.ndarray:
        return equalise_channels(planes, self.space, self._clahe.apply)


DEFAULT_GAMMA = 2.2


class Gamma(ClassicalEnhancer):
    """Gamma correction: ``out = in ** (1 / gamma)`` on each of R, G, B, as an 8-bit look-up table.

    Option ``gamma`` (> 0; default 2.2, the display gamma: brightens, as a low-light
    baseline must), or equally ``variant`` ("gamma=2.2"). The table is
    ``round(255 * (k / 255) ** (1 / gamma))`` for k = 0..255, computed in float64 and applied
    with ``cv2.LUT``.
    """

    name = "gamma"
    description = "gamma correction out = in^(1/gamma), gamma 2.2, per RGB channel (cv2.LUT)"
    paper = "Digital Image Processing, 3rd ed., section 3.2.3 Power-Law (Gamma) Transformations (Gonzalez, Woods)"
    venue, year = "textbook, Prentice Hall", 2008
    variants = ("gamma=2.2",)
    #: pointwise: a tile needs no context
    tile_halo = 0

    def __init__(self, context: Context | None = None, variant: str | None = None, gamma: float | None = None) -> None:
        super().__init__(context)
        parsed = parse_variant(self.name, variant, ("gamma",)) if variant is not None else {}
        from_variant = positive_number(self.name, "gamma", parsed["gamma"]) if "gamma" in parsed else None
        given = positive_number(self.name, "gamma", gamma) if gamma is not None else None
        self.gamma = merge_option(self.name, "gamma", given, from_variant, DEFAULT_GAMMA)
        self.table = gamma_table(self.gamma)

    @property
    def variant(self) -> str:
        return f"gamma={self.gamma:g}"

    def settings(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "formula": "out = in ** (1 / gamma), per R, G, B",
                "call": "cv2.LUT with round(255 * (k / 255) ** (1 / gamma)), float64",
                "input": "8 bits, floor(255 x + 0.5)"}

    def process(self, planes: np.ndarray) -> np.ndarray:
        # element-wise, so the planes are looked up as one (3H)xW single-channel image
        return cv2.LUT(planes.reshape(-1, planes.shape[-1]), self.table).reshape(planes.shape)


def gamma_table(gamma: float) -> np.ndarray:
    """The 256-entry uint8 table of ``in ** (1 / gamma)``, rounded half up."""
    levels = np.arange(256, dtype=np.float64) / 255.0
    return np.floor(255.0 * levels ** (1.0 / gamma) + 0.5).clip(0, 255).astype(np.uint8)


ENHANCERS: tuple[type[ClassicalEnhancer], ...] = (HistogramEqualisation, CLAHE, Gamma)
