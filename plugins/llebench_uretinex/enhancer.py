"""The ``uretinex`` enhancer: URetinex-Net's official inference (``test.py``, class ``Inference``).

Pipeline (``round`` unfolding stages, settings read from the checkpoint's pickled ``opts``):

* stage 0: (P, Q) = Decom(I); later stages t: P = update_reflectance(I, Q, R, γ + t·Δγ),
  Q = update_illumination(I, P, L, λ + t·Δλ);
* every stage: R = Rnet(P, Q), L = Lnet(Q);
* Â = Anet(L, ratio); the enhanced image is Â·R, not clamped, saved by *truncation*
  (``np.clip(y*255, 0, 255).astype('uint8')``), which :meth:`URetinexNet.enhance` reproduces.

High resolution: Rnet's squeeze-excitation gate uses the global mean of a feature map, so
the whole pipeline cannot be tiled with a halo. Instead each network runs *stage by stage*
on tiles (with its own receptive radius as halo) while the few-channel maps P, Q, R, L stay
whole; the gate's means are accumulated over the tiles first (float64), so the result equals
the whole-image computation up to float summation order.
"""

from __future__ import annotations

import math
import os
import warnings
from argparse import Namespace
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from llebench.sdk import (
    Context, Enhancer, LLEBenchError, WeightsFile, check_precision, load_state_dict, precision_autocast,
    resolve_weights, sha256sum, tiled, truncate_to_8_bits,
)

from llebench_uretinex.nets import (
    ADJUST_RADIUS, DECOM_RADIUS, GATE_RADIUS, ILLUMINATION_RADIUS, RESTORE_RADIUS, AdjustmentNet,
    DecompositionNet, IlluminationNet, RestorationNet, update_illumination, update_reflectance,
)

LICENCE = ("MIT licence file in the repository, but the README says: the code is only for non-commercial use")
_RAW = "https://github.com/AndersonYong/URetinex-Net/raw/main/ckpt/"

INIT_LOW = WeightsFile(
    filename="uretinex_init_low.pth", url=_RAW + "init_low.pth",
    sha256="00a8d28ecaff67a79e045b3324bfab57d8ef18236a96a94aa9bcecccbb1f7e2d",
    description="URetinex-Net low-light decomposition net (state_dict.model_R, 20,548 parameters)", licence=LICENCE)
UNFOLDING = WeightsFile(
    filename="uretinex_unfolding.pth", url=_RAW + "unfolding.pth",
    sha256="65ec556a3bd673cc4571bdd937ad38e44a56cbb011b81ad933b7d6ebeb6d55b5",
    description="URetinex-Net unfolding nets (state_dict.model_R 188,099 + model_L 77,761 parameters) and opts",
    licence=LICENCE)
L_ADJUST = WeightsFile(
    filename="uretinex_L_adjust.pth", url=_RAW + "L_adjust.pth",
    sha256="6caba8b00e32758323294f3d49fcc0337e1884964cdebb85ae733ebd67442eda",
    description="URetinex-Net illumination adjustment net (state_dict.model_A, 53,697 parameters) "
                "plus copies of the other three nets", licence=LICENCE)
INIT_HIGH = WeightsFile(
    filename="uretinex_init_high.pth", url=_RAW + "init_high.pth",
    sha256="7d11c3269a7db61301700c2d425788ea970b9a1418c9d4b376b624ce0eed36ba",
    description="URetinex-Net normal-light decomposition net (20,548 parameters); only the gt_ratio "
                "variant (evaluate.py) uses it", licence=LICENCE)

#: the unfolding settings stored in the official unfolding.pth ``opts`` (checked at load time)
OFFICIAL_UNFOLDING = {"round": 3, "gamma": 0.1, "lamda": 0.5, "Roffset": 0.05, "Loffset": 0.05}
#: test.py's default --ratio
DEFAULT_RATIO = 5
#: images with more pixels than this are computed stage-wise on tiles by default (``tile="auto"``)
AUTO_TILE_PIXELS = 1 << 22
#: the tile size (px) of the automatic policy, halved after out-of-memory down to MIN_TILE
AUTO_TILE = 1024
MIN_TILE = 64
#: evaluate.py's epsilons: ratio = mean(L / (L_high + 1e-4)); alpha = 1 / (ratio + 1e-4)
GT_EPS = 1e-4

def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _tiles(height: int, width: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            yield y0, min(y0 + tile, height), x0, min(x0 + tile, width)


def _load_net(net: torch.nn.Module, path: Path, where: str) -> dict[str, Any]:
    """Load ``path[where]`` (weights-only) into ``net``; return the file's other top-level entries."""
    state, meta = load_state_dict(path, where=where)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise LLEBenchError(f"{path}: {where} is not a URetinex-Net {type(net).__name__} ({exc})") from exc
    return meta


def _option(opts: Any, key: str) -> Any:
    return getattr(opts, key, None) if isinstance(opts, Namespace) else None


class URetinexNet(Enhancer):
    """URetinex-Net with the official weights and the official test procedure."""

    name = "uretinex"
    description = "URetinex-Net (Wu et al., CVPR 2022): Retinex deep unfolding, official weights, test.py ratio 5"
    paper = ("URetinex-Net: Retinex-based Deep Unfolding Network for Low-light Image Enhancement "
             "(Wu, Weng, Zhang, Wang, Yang, Jiang)")
    venue, year = "CVPR", 2022
    licence = LICENCE
    variants = ("fixed_ratio", "gt_ratio")
    weights_files = (INIT_LOW, UNFOLDING, L_ADJUST, INIT_HIGH)
    accepts_weights = True
    tile_halo = None  # the squeeze-excitation gate is global: see the ``tile`` option instead
    crops_output = False

    def __init__(self, context: Context | None = None, variant: str = "fixed_ratio",
                 ratio: float | None = None, weights: str | os.PathLike[str] | None = None,
                 precision: str = "fp32", tile: int | str = "auto") -> None:
        super().__init__(context)
        if variant not in self.variants:
            raise LLEBenchError(f"uretinex: variant must be one of {', '.join(self.variants)}, got {variant!r}")
        self._variant = variant
        if ratio is not None and variant == "gt_ratio":
            raise LLEBenchError("uretinex: the gt_ratio variant derives the ratio from the reference image "
                                "(evaluate.py); do not give ratio= with it")
        if ratio is None:
            ratio = DEFAULT_RATIO
        if (isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio)
                or ratio <= 0):
            raise LLEBenchError(f"uretinex: ratio must be a positive number (test.py: 5; the authors recommend "
                                f"3 to 5), got {ratio!r}")
        self.ratio = ratio
        # a clear error for an unknown precision; a warning where this CPU only emulates it
        self.precision = check_precision("uretinex", precision, str(self.device))
        if tile != "auto" and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 0):
            raise LLEBenchError(f"uretinex: tile must be 'auto', 0 (never tile) or a tile size in pixels, got {tile!r}")
        self.tile = tile

        self.decom = DecompositionNet()
        self.restoration = RestorationNet()
        self.illumination = IlluminationNet()
        self.adjustment = AdjustmentNet()
        self.decom_high: DecompositionNet | None = None
        self._loaded: list[Path] = []
        if weights is None:
            self._load_official()
        else:
            self._load_own(resolve_weights(L_ADJUST, weights))
        if variant == "gt_ratio":
            path = resolve_weights(INIT_HIGH)
            self.decom_high = DecompositionNet()
            _load_net(self.decom_high, path, "state_dict.model_R")
            self._loaded.append(path)
        # channels_last: oneDNN's fastest convolutions on CPU (and cuDNN's on recent GPUs)
        for net in self._nets():
            net.to(self.device, memory_format=torch.channels_last).eval().requires_grad_(False)
        self._shas = {path.name: sha256sum(path) for path in self._loaded}

    # ---------------------------------------------------------------- loading
    def _load_official(self) -> None:
        low, unfolding, adjust = (resolve_weights(spec) for spec in (INIT_LOW, UNFOLDING, L_ADJUST))
        _load_net(self.decom, low, "state_dict.model_R")
        meta = _load_net(self.restoration, unfolding, "state_dict.model_R")
        _load_net(self.illumination, unfolding, "state_dict.model_L")
        adjust_meta = _load_net(self.adjustment, adjust, "state_dict.model_A")
        self._check_architecture(unfolding, meta.get("opts"), adjust, adjust_meta.get("opts"))
        self.unfolding = self._unfolding_settings(unfolding, meta.get("opts"), required=True)
        self._loaded += [low, unfolding, adjust]

    def _load_own(self, path: Path) -> None:
        """A final-stage training checkpoint (the layout of the official L_adjust.pth): all four
        nets under ``state_dict.{model_decom, model_R, model_L, model_A}``."""
        _load_net(self.decom, path, "state_dict.model_decom")
        _load_net(self.restoration, path, "state_dict.model_R")
        _load_net(self.illumination, path, "state_dict.model_L")
        meta = _load_net(self.adjustment, path, "state_dict.model_A")
        self._check_architecture(path, meta.get("opts"), path, meta.get("opts"))
        self.unfolding = self._unfolding_settings(path, meta.get("opts"), required=False)
        self._loaded.append(path)

    @staticmethod
    def _check_architecture(unfolding: Path, opts: Any, adjust: Path, adjust_opts: Any) -> None:
        """The pickled options name the modules; only the ones test.py builds are implemented."""
        expected = {"R_model": "HalfDnCNNSE", "L_model": "Illumination_Alone", "concat_L": True}
        for key, value in expected.items():
            found = _option(opts, key)
            if found is not None and found != value:
                raise LLEBenchError(f"{unfolding}: opts.{key} is {found!r}; llebench implements {value!r} only")
        found = _option(adjust_opts, "A_model")
        if found is not None and found != "naive":
            raise LLEBenchError(f"{adjust}: opts.A_model is {found!r}; llebench implements 'naive' only")

    @staticmethod
    def _unfolding_settings(path: Path, opts: Any, required: bool) -> dict[str, Any]:
        """round, gamma, lamda, Roffset, Loffset as test.py reads them from the pickled opts.

        A checkpoint of one's own without them (the official L_adjust.pth layout stores only
        the adjustment options) gets the official values, and ``settings()`` says so.
        """
        found = {key: _option(opts, key) for key in OFFICIAL_UNFOLDING}
        if all(value is None for value in found.values()) and not required:
            return {**OFFICIAL_UNFOLDING, "source": "official unfolding.pth (not in the file)"}
        missing = [key for key, value in found.items() if value is None]
        if missing:
            raise LLEBenchError(f"{path}: the pickled opts lack {', '.join(missing)} (the unfolding settings)")
        rounds = found["round"]
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise LLEBenchError(f"{path}: opts.round must be a positive integer, got {rounds!r}")
        for key in ("gamma", "lamda", "Roffset", "Loffset"):
            if isinstance(found[key], bool) or not isinstance(found[key], (int, float)):
                raise LLEBenchError(f"{path}: opts.{key} must be a number, got {found[key]!r}")
        return {**found, "source": path.name}

    # ---------------------------------------------------------------- metadata
    def _nets(self) -> list[torch.nn.Module]:
        nets: list[torch.nn.Module] = [self.decom, self.restoration, self.illumination, self.adjustment]
        return nets + ([self.decom_high] if self.decom_high is not None else [])

    def network(self) -> torch.nn.Module:
        """The four nets test.py runs (340,105 parameters); gt_ratio adds the normal-light Decom."""
        return torch.nn.ModuleList(self._nets())

    def weights_used(self) -> dict[str, str]:
        return dict(self._shas)

    @property
    def variant(self) -> str:
        parts = [self._variant]
        if self._variant == "fixed_ratio" and self.ratio != DEFAULT_RATIO:
            parts.append(f"ratio={self.ratio:g}")
        if self.precision != "fp32":
            parts.append(self.precision)
        return "+".join(parts)

    @property
    def needs_reference(self) -> bool:
        return self._variant == "gt_ratio"

    def settings(self) -> dict[str, Any]:
        return {
            "variant": self._variant,
            "ratio": "from the reference (evaluate.py)" if self._variant == "gt_ratio" else self.ratio,
            "unfolding": dict(self.unfolding),
            "precision": self.precision,
            "saved_as": "truncation: floor(clip(255 y, 0, 255)), as test.py's np_save_TensorImg",
            "tile": self.tile,
        }

    # ---------------------------------------------------------------- inference
    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        if self._variant == "gt_ratio":
            raise LLEBenchError("uretinex gt_ratio needs the reference image (a paired dataset)")
        return self._run(image, None)

    def enhance_with_reference(self, image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        if self._variant != "gt_ratio":
            return self._run(image, None)
        if reference.shape != image.shape:
            raise LLEBenchError(f"uretinex gt_ratio: the reference has shape {tuple(reference.shape)}, "
                                f"the input {tuple(image.shape)}; evaluate.py needs them equal")
        return self._run(image, reference)

    def _run(self, image: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        if image.shape[0] != 1:
            raise LLEBenchError(f"uretinex enhances one image at a time, got a batch of {image.shape[0]}")
        height, width = image.shape[-2:]
        image = image.contiguous(memory_format=torch.channels_last)
        if reference is not None:
            reference = reference.contiguous(memory_format=torch.channels_last)
        if self.tile == "auto":
            tile = 0 if height * width <= AUTO_TILE_PIXELS else AUTO_TILE
            while True:
                try:
                    enhanced = self._pipeline(image, reference, tile)
                    break
                except Exception as exc:  # out of memory: retry on smaller tiles
                    if not _is_out_of_memory(exc) or tile == MIN_TILE:
                        raise
                tile = max(MIN_TILE, tile // 2 if tile else min(AUTO_TILE, (max(height, width) + 1) // 2))
                warnings.warn(f"uretinex: out of memory on a {height}x{width} image; retrying stage-wise on "
                              f"{tile} px tiles", stacklevel=2)
        else:
            enhanced = self._pipeline(image, reference, self.tile)
        # test.py saves np.clip(y * 255, 0, 255).astype('uint8'): truncation. k/255 survives the
        # runner's rounding unchanged, so the cached PNG holds the official bytes.
        return truncate_to_8_bits(enhanced).contiguous()

    def _pipeline(self, image: torch.Tensor, reference: torch.Tensor | None, tile: int) -> torch.Tensor:
        with precision_autocast(self.precision, self.device):
            return self._compute(image, reference, tile)

    def _compute(self, image: torch.Tensor, reference: torch.Tensor | None, tile: int) -> torch.Tensor:
        height, width = image.shape[-2:]
        tiling = 0 < tile < max(height, width)

        def local(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, halo: int) -> torch.Tensor:
            out = tiled(fn, x, tile, halo) if tiling else fn(x)
            return out.float()

        settings = self.unfolding
        pq = local(self.decom, image, DECOM_RADIUS)
        p, q = pq[:, :3], pq[:, 3:]
        r = l = image  # replaced in stage 0
        for t in range(settings["round"]):
            if t > 0:
                p = update_reflectance(image, q, r, settings["gamma"] + settings["Roffset"] * t)
                q = update_illumination(image, p, l, settings["lamda"] + settings["Loffset"] * t)
            if tiling:
                gate = self.restoration.channel_gate(self._tiled_gate_means(p, q, tile))[0]
                r = local(lambda x, gate=gate: self.restoration.restore(x[:, :3], x[:, 3:], gate),
                          torch.cat([p, q], 1), RESTORE_RADIUS)
            else:
                r = self.restoration(p, q).float()
            l = local(self.illumination, q, ILLUMINATION_RADIUS)
        if reference is None:
            ratio: float | torch.Tensor = self.ratio
        else:
            assert self.decom_high is not None
            l_high = local(lambda x: self.decom_high(x)[:, 3:], reference, DECOM_RADIUS)
            ratio = 1 / ((l / (l_high + GT_EPS)).mean() + GT_EPS)
        adjusted = local(lambda x: self.adjustment(x, ratio), l, ADJUST_RADIUS)
        return adjusted * r

    def _tiled_gate_means(self, p: torch.Tensor, q: torch.Tensor, tile: int) -> torch.Tensor:
        """The per-channel spatial means (1 x 64) of Rnet's gate features, summed over tiles in float64."""
        height, width = p.shape[-2:]
        total = torch.zeros(1, self.restoration.conv1.out_channels * 2, dtype=torch.float64, device=p.device)
        halo = GATE_RADIUS
        for y0, y1, x0, x1 in _tiles(height, width, tile):
            top, left = max(0, y0 - halo), max(0, x0 - halo)
            window = (slice(None), slice(None), slice(top, min(height, y1 + halo)), slice(left, min(width, x1 + halo)))
            features = self.restoration.gate_features(p[window], q[window])
            core = features[..., y0 - top:y1 - top, x0 - left:x1 - left]
            total += core.sum(dim=(2, 3), dtype=torch.float64)
        return (total / (height * width)).float()
