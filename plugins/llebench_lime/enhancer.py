"""The ``lime`` enhancer: LIME (Guo, Li, Ling, TIP 2017), a training-free Retinex method."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from llebench.sdk import Context, Enhancer, LLEBenchError

from llebench_lime.denoise import DEFAULT_SIGMA, denoise_recompose, load_bm3d
from llebench_lime.lime import LimeOptions, lime_enhance

DEFAULTS = LimeOptions()
#: what the authors' MATLAB demo (demo.m) sets differently from the paper's figures
OFFICIAL_DEMO = {"gamma": 0.7, "denoise": True}
COMPATS = ("paper", "official")


class Lime(Enhancer):
    """Options (``-o lime.KEY=VALUE``): alpha, sigma, gamma, eps, strategy (1/2/3),
    solver ("pcg" / "admm" / "direct"), tol (PCG relative residual), denoise (BM3D),
    denoise_sigma (0-255 scale), compat ("paper" / "official": the demo's gamma 0.7 and
    BM3D post-processing as defaults). Unknown options raise TypeError."""

    name = "lime"
    description = "LIME (Guo et al., TIP 2017): max-RGB illumination refined by the sped-up solver"
    paper = "LIME: Low-Light Image Enhancement via Illumination Map Estimation (Guo, Li, Ling)"
    venue, year = "IEEE TIP", 2017
    licence = "no weights (a training-free method); BM3D denoising, when used, is free for non-commercial use only"

    def __init__(self, context: Context | None = None, alpha: float = DEFAULTS.alpha, sigma: float = DEFAULTS.sigma,
                 gamma: float | None = None, eps: float = DEFAULTS.eps, strategy: int = DEFAULTS.strategy,
                 solver: str = DEFAULTS.solver, tol: float = DEFAULTS.tol, denoise: bool | None = None,
                 denoise_sigma: float = DEFAULT_SIGMA, compat: str = "paper") -> None:
        super().__init__(context)
        if compat not in COMPATS:
            raise LLEBenchError(f"lime: compat must be 'paper' or 'official' (got {compat!r})")
        self.compat = compat
        official = compat == "official"
        if gamma is None:
            gamma = OFFICIAL_DEMO["gamma"] if official else DEFAULTS.gamma
        if denoise is None:
            denoise = OFFICIAL_DEMO["denoise"] if official else False
        try:
            self.options = LimeOptions(alpha=alpha, sigma=sigma, gamma=gamma, eps=eps, strategy=strategy,
                                       solver=solver, tol=tol)
        except ValueError as exc:
            raise LLEBenchError(str(exc)) from exc
        if not isinstance(denoise, bool):
            raise LLEBenchError(f"lime: denoise must be true or false (got {denoise!r})")
        if not denoise_sigma > 0:
            raise LLEBenchError(f"lime: denoise_sigma must be positive (got {denoise_sigma!r})")
        self.denoise = denoise
        self.denoise_sigma = float(denoise_sigma)
        if denoise:
            load_bm3d()  # fail now, once, rather than on every image

    @property
    def variant(self) -> str:
        parts = ["official"] if self.compat == "official" else []
        if self.options.solver != DEFAULTS.solver:
            parts.append(self.options.solver)
        if self.options.strategy != DEFAULTS.strategy:
            parts.append(f"strategy={self.options.strategy}")
        expected = OFFICIAL_DEMO if self.compat == "official" else {"gamma": DEFAULTS.gamma, "denoise": False}
        if self.options.gamma != expected["gamma"]:
            parts.append(f"gamma={self.options.gamma:g}")
        if self.denoise != expected["denoise"]:
            parts.append("denoise" if self.denoise else "no-denoise")
        return ",".join(parts)

    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = dataclasses.asdict(self.options)
        settings.update(compat=self.compat, denoise=self.denoise, denoise_sigma=self.denoise_sigma,
                        boundary="neumann" if self.options.solver != "admm" else "circular (FFT)")
        return settings

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        array = image[0].detach().to("cpu", torch.float64).permute(1, 2, 0).numpy()
        enhanced, illumination = lime_enhance(array, self.options)
        if self.denoise:
            enhanced = denoise_recompose(enhanced, illumination, self.denoise_sigma)
        output = torch.from_numpy(np.clip(enhanced, 0.0, 1.0).astype(np.float32))
        return output.permute(2, 0, 1).unsqueeze(0).to(image.device)
