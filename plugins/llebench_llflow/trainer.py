"""LLFlow training (``llebench train llflow``): the official recipe of ``code/train.py`` with
``confs/LOL-pc.yml`` (standard) or ``confs/LOL_smallNet.yml`` (small).

* Data (``LoL_Dataset``): LOL pairs ``<root>/<split>/{low,high}`` (``our485``), 8-bit RGB;
  the low image's per-channel histogram equalisation on the whole image; a random
  ``crop_size`` crop (160) of low, high and equalised alike, a random horizontal flip;
  LQ = ``[log(clamp(low/255 + 1e-3, min=1e-3)), histeq/255]``, GT = high/255. The crop, the
  flip and the colour-map draw below come from the engine's per-sample generator.
* Objective (``LLFlowModel.optimize_parameters`` with ``weight_fl 1``, ``weight_l1 0``): the
  mean over the batch of the NLL of the GT under the conditional flow, in bits per pixel
  location, with the Gaussian mean ``squeeze8(encoder colour map)``, or, with probability
  ``train_gt_ratio`` (0.2) per batch, ``squeeze8(gt / (sum_c gt + 1e-4))``. No
  dequantisation noise (``add_gt_noise`` is False in the official call).
* ActNorm: data-dependent initialisation on the first forward (every ActNorm whose bias is
  all zero); a resumed run loads non-zero biases and does not initialise again.
* Optimiser: Adam, lr 5e-4, no weight decay, betas (0.9, 0.999): the official code passes
  ``beta1``/``beta2`` as param-group keys that ``torch.optim.Adam`` ignores, so the conf's
  0.99 never applies. Everything is trained from the first step (``train_RRDB`` is unused).
* Schedule (official ``MultiStepLR_Restart`` + ``update_learning_rate``): at the official
  iteration ``t`` the rate is ``lr * min(t, W - 1) / W`` with the warm-up ``W`` (3000 for
  LOL-pc; the last warm-up value, (W-1)/W, is kept after it: the official quirk), or ``lr``
  without warm-up (small), halved (``lr_gamma``) at every milestone ``<= t``.
  The official loop skips the optimiser at its first iteration (``current_step < 2``), so
  the engine's iteration ``i`` (0-based) is the official ``t = i + 2`` and the official
  ``niter`` is ``train.iterations + 1``. The engine has no multi-step schedule with warm-up,
  so this trainer sets the rate itself before every optimiser step (a torch optimiser
  step pre-hook on the engine's optimiser); ``[scheduler]`` must stay ``none``.
* AMP: the official model runs under ``torch.cuda.amp.autocast()`` with a ``GradScaler``
  on the GPU: ``train.amp = "fp16"`` on CUDA.
"""

from __future__ import annotations

import hashlib
import weakref
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from llebench.sdk import (
    ConfigKey, DatasetUnavailable, ImageError, RunConfigError, StepOutput, Trainer, match_pairs, truncate_to_8_bits,
)

from llebench_llflow.network import ARCHITECTURES, LLFlowNet
from llebench_llflow.procedures import equalize, training_pair, unpaired_input


def read_rgb(path: Path) -> np.ndarray:
    """``cv2.imread`` as RGB uint8 (the official loader)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = img.size
    except OSError as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from exc
    return height, width


class LoLTrainSet(torch.utils.data.Dataset):
    """The official ``LoL_Dataset`` (train): one item per (low, high) pair.

    Items are ``{"lq": 6xPxP, "gt": 3xPxP, "draw": U(0,1)}``; ``draw`` decides the
    batch's Gaussian mean (the first item of a batch speaks for it, as the official
    ``random.random()`` is drawn once per forward).
    """

    def __init__(self, low_dir: Path, high_dir: Path, crop: int, flip: bool) -> None:
        self.low_dir, self.high_dir = low_dir, high_dir
        self.pairs = match_pairs(low_dir, high_dir)
        self.crop, self.flip = crop, flip
        for low, high in self.pairs:
            size, other = image_size(low), image_size(high)
            if size != other:
                raise DatasetUnavailable(f"{low} is {size[0]}x{size[1]} but its reference {high} is "
                                         f"{other[0]}x{other[1]}")
            if min(size) < crop:
                raise DatasetUnavailable(f"{low} is {size[0]}x{size[1]}, smaller than the crop ({crop}): "
                                         "lower [data] crop_size")

    def __len__(self) -> int:
        return len(self.pairs)

    def get(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        low_path, high_path = self.pairs[index]
        low, high = read_rgb(low_path), read_rgb(high_path)
        lq, gt = training_pair(low, high, equalize(low), self.crop, self.flip, generator)
        return {"lq": lq, "gt": gt, "draw": torch.rand((), generator=generator)}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.get(index, torch.Generator().manual_seed(index))

    def describe(self) -> dict[str, Any]:
        listing = "\n".join(f"{low.name}\t{high.name}" for low, high in self.pairs)
        return {"low": str(self.low_dir.resolve()), "high": str(self.high_dir.resolve()), "pairs": len(self.pairs),
                "crop_size": self.crop, "flip": self.flip,
                "listing_sha256": hashlib.sha256(listing.encode()).hexdigest()}


def official_learning_rate(base: float, t: int, steps: list[int], gamma: float, warmup: int) -> float:
    """The learning rate of the official iteration ``t`` (1-based ``current_step``)."""
    rate = base * min(t, warmup - 1) / warmup if warmup > 0 else base
    return rate * gamma ** sum(1 for step in steps if step <= t)


class _ScheduleHook:
    """Sets the rate of the optimiser that trains ``model`` before each of its steps.

    The trainer never sees the engine's optimiser, so this starts as a process-wide
    optimiser step pre-hook that only looks for it: at the first step of an optimiser
    holding ``model``'s parameters it puts :meth:`set_rate` on that optimiser (a
    per-instance pre-hook, gone with it). The global hook is removed afterwards, outside
    any optimiser step (torch iterates the hooks while calling them): by the trainer's next
    ``training_step``, or, for a run that died before its first step, by the next
    ``build_model`` in the process. Other optimisers are never touched.
    """

    #: global hooks not removed yet (removed outside optimiser steps once done or orphaned)
    pending: ClassVar[set[_ScheduleHook]] = set()

    def __init__(self, trainer: LLFlowTrainer, model: nn.Module) -> None:
        self.trainer = weakref.ref(trainer)
        self.model = weakref.ref(model)
        self.found = False
        self.handle = register_optimizer_step_pre_hook(self.find_optimizer)
        self.pending.add(self)

    @property
    def orphaned(self) -> bool:
        return self.trainer() is None or self.model() is None

    def remove(self) -> None:
        """Remove the global hook (never call it from inside an optimiser step)."""
        self.handle.remove()
        self.pending.discard(self)

    @classmethod
    def remove_orphans(cls) -> None:
        for hook in [h for h in cls.pending if h.orphaned]:
            hook.remove()

    def find_optimizer(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        model = self.model()
        if self.found or model is None or self.trainer() is None:
            return
        ours = {id(p) for p in model.parameters()}
        if not any(id(p) in ours for group in optimizer.param_groups for p in group["params"]):
            return
        self.found = True
        optimizer.register_step_pre_hook(self.set_rate)
        self.set_rate(optimizer, args, kwargs)

    def set_rate(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        trainer = self.trainer()
        if trainer is None:
            return
        rate = trainer.learning_rate(trainer.context.iteration)
        for group in optimizer.param_groups:
            group["lr"] = rate


def _variant(value: Any) -> str | None:
    return None if value in ARCHITECTURES else f"must be one of {', '.join(ARCHITECTURES)}"


class LLFlowTrainer(Trainer):
    name = "llflow"
    description = "LLFlow: conditional flow trained by NLL on LOL pairs (official recipe, standard or small net)"
    enhancer = "llflow"
    default_data: ClassVar[dict[str, Any]] = {
        "root": "LOL",          # relative paths are under the data root ($LLEBENCH_DATA)
        "split": "our485",      # the pairs are <root>/<split>/low and <root>/<split>/high
        "crop_size": 160,       # GT_size
        "flip": True,           # use_flip
    }
    default_method: ClassVar[dict[str, Any]] = {
        "variant": "standard",             # standard (LOL-pc.yml) or small (LOL_smallNet.yml)
        "train_gt_ratio": 0.2,             # probability of the GT's own colour map as the Gaussian mean
        "lr_steps": [20000, 30000, 36000, 38000],   # official iterations t where the rate is multiplied by lr_gamma
        "lr_gamma": 0.5,
        "warmup_iter": 3000,               # linear warm-up over the first official iterations; 0 = none
    }

    @classmethod
    def method_schema(cls) -> dict[str, ConfigKey]:
        return {
            "variant": ConfigKey((str,), "standard", _variant),
            "train_gt_ratio": ConfigKey((float,), 0.2, lambda v: None if 0 <= v <= 1 else "must be in [0, 1]"),
            "lr_steps": ConfigKey((list,), [20000, 30000, 36000, 38000], items=(int,)),
            "lr_gamma": ConfigKey((float,), 0.5, lambda v: None if v > 0 else "must be positive"),
            "warmup_iter": ConfigKey((int,), 3000, lambda v: None if v >= 0 else "must be at least 0"),
        }

    @classmethod
    def data_schema(cls) -> dict[str, ConfigKey]:
        return {
            "root": ConfigKey((str,), "LOL"),
            "split": ConfigKey((str,), "our485"),
            "crop_size": ConfigKey((int,), 160, lambda v: None if v >= 8 and v % 8 == 0
                                   else "must be a positive multiple of 8 (the flow squeezes by 8)"),
            "flip": ConfigKey((bool,), True),
        }

    def __init__(self, config, context) -> None:
        super().__init__(config, context)
        if config.scheduler["name"] != "none":
            raise RunConfigError("llflow sets its learning rate itself (the official multi-step schedule with "
                                 "warm-up: [method] lr_steps, lr_gamma, warmup_iter); leave [scheduler] out")
        if context.world_size > 1:
            raise RunConfigError("llflow trains in one process: its data-dependent ActNorm initialisation would "
                                 "differ between DDP processes (the official recipe uses one GPU)")
        self.arch = ARCHITECTURES[self.options["variant"]]
        self._hook: Any = None

    def learning_rate(self, iteration: int) -> float:
        """The rate of the engine's 0-based ``iteration`` (official iteration ``iteration + 2``)."""
        o = self.options
        return official_learning_rate(float(self.config.optimizer["lr"]), iteration + 2, list(o["lr_steps"]),
                                      float(o["lr_gamma"]), int(o["warmup_iter"]))

    def build_model(self) -> nn.Module:
        model = LLFlowNet(self.arch)
        if self._hook is not None:
            self._hook.remove()
        _ScheduleHook.remove_orphans()
        self._hook = _ScheduleHook(self, model)
        return model

    def train_dataset(self) -> LoLTrainSet:
        root = self._root() / str(self.data["split"])
        return LoLTrainSet(root / "low", root / "high", int(self.data["crop_size"]), bool(self.data["flip"]))

    def _root(self) -> Path:
        root = Path(str(self.data["root"])).expanduser()
        if root.is_absolute():
            return root
        if self.context.data_root is None:
            raise RunConfigError(f"[data] root {root} is relative: set $LLEBENCH_DATA or --data-root, "
                                 "or give an absolute path")
        return self.context.data_root / root

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        if self._hook is not None and self._hook.found and self._hook in _ScheduleHook.pending:
            self._hook.remove()  # the rate hook sits on the engine's optimiser now
        gt_color_map = bool(batch["draw"][0] <= float(self.options["train_gt_ratio"]))
        nll, _, _ = model(batch["lq"], batch["gt"], gt_color_map=gt_color_map)
        loss = nll.float().mean()
        return StepOutput(loss, {"gt_color_map": float(gt_color_map)})

    def enhance(self, model: nn.Module, image: torch.Tensor) -> torch.Tensor:
        """Validation with the default test procedure (``test_unpaired.py``)."""
        lq, (top, bottom, left, right) = unpaired_input(image)
        output = model(lq)
        return truncate_to_8_bits(output[:, :, top:output.shape[2] - bottom, left:output.shape[3] - right])
