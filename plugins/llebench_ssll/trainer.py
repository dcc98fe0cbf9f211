"""``llebench train ssll``: the supervised baseline (stage 1) and SSLL's semi-supervised stage 2.

Stage 1 (``stage = "supervised"``) minimises L_sup on paired crops. Stage 2
(``stage = "semi"``) starts from stage 1's weights (``init``) and adds, per step:

* the mean teacher: ``context.ema`` (``train.ema_decay`` is the maximum decay a; the
  decay after optimizer step t is ``min(1 - 1/(t+1), a)``, t counted across both
  stages);
* CutMix of a square of the paired low-light crop into both views of the unpaired crop;
* L_con, PICo on the paired crop (anchor student, positive GT, negative teacher) and on
  the unpaired pixels of the mixed crop (anchor student, positive teacher, negative the
  mixed input scaled to the teacher output's mean);

``L = L_sup + lambda_p L_ctr^p + ramp(t) (L_con + lambda_u L_ctr^u)``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from llebench.sdk import LossInputs, RunConfigError, StepOutput, Trainer

from llebench_ssll.backbones import build_backbone
from llebench_ssll.checkpoints import load_weights
from llebench_ssll.cutmix import cutmix
from llebench_ssll.data import PairSource, SSLLTrainSet, image_paths
from llebench_ssll.losses import consistency_loss, match_brightness, pico_loss
from llebench_ssll.schedules import cutmix_mu, ema_decay, ramp
from llebench_ssll.supervised import SupervisedLoss, parse_terms

STAGES = ("supervised", "semi")


class SSLLTrainer(Trainer):
    name = "ssll"
    description = "SSLL (Ni et al. 2025): supervised baseline, then Mean Teacher + CutMix + PICo"
    enhancer = "ssll"
    default_data: ClassVar[dict[str, Any]] = {
        "paired_low": "",          # folder of low-light images ...
        "paired_high": "",         # ... and of their references (matched as lolv2_real does: stem, minus low/normal)
        "paired_synthetic": "",    # or: folder of photos, well-exposed ones darkened on the fly
        "synthetic_split": "train",
        "unpaired": [],            # folders of unpaired low-light images (stage 2)
        "crop_size": 192,
        "unpaired_views": "noise",  # noise, identical (see llebench_ssll.data)
    }
    default_method: ClassVar[dict[str, Any]] = {
        "stage": "supervised",     # supervised (baseline), semi (SSLL)
        "init": "",                # stage 2: stage 1's model.pt (or checkpoint)
        "backbone": "unet",
        "backbone_options": {"width": 64},
        "sup_loss": "ssim+lpips",
        "lambda_p": 0.1,
        "lambda_u": 0.1,
        "gamma": 10.0,
        "margin_paired": -0.25,
        "margin_unpaired": 0.25,
        "ramp_length": 0,          # R in optimizer steps; 0 = the last step of stage 2
        "cutmix_placement": "inside",  # inside (paper), official (authors' clipped box)
    }

    def __init__(self, config, context) -> None:
        super().__init__(config, context)
        o = self.options
        if o["stage"] not in STAGES:
            raise RunConfigError(f"[method] stage must be one of {', '.join(STAGES)}, got {o['stage']!r}")
        if o["cutmix_placement"] not in ("inside", "official"):
            raise RunConfigError("[method] cutmix_placement must be 'inside' or 'official'")
        if float(config.train["ema_decay"]) <= 0:
            raise RunConfigError("SSLL keeps a mean teacher: set [train] ema_decay (the paper: 0.99)")
        parse_terms(o["sup_loss"])
        self.semi = o["stage"] == "semi"
        if self.semi and not o["init"]:
            raise RunConfigError("stage = 'semi' starts from stage 1: set [method] init to its model.pt")
        if self.semi and not self.data["unpaired"]:
            raise RunConfigError("stage = 'semi' needs unpaired images: set [data] unpaired = [folders]")
        self.root = context.data_root
        self.init_state: dict[str, torch.Tensor] | None = None
        #: optimizer steps taken before this run (stage 1's, for stage 2): the EMA/ramp clock
        self.step_offset = 0
        if o["init"]:
            self.init_state, meta = load_weights(self._path(o["init"]))
            self.step_offset = int(meta.get("iteration", 0))
        self.sup_loss = SupervisedLoss(o["sup_loss"]).to(context.device)

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        if not path.is_absolute() and self.root is not None and not path.exists():
            path = self.root / path
        return path

    # -- Trainer contract ------------------------------------------------------------------

    def build_model(self) -> nn.Module:
        model = build_backbone(self.options["backbone"], self.options["backbone_options"])
        if self.init_state is not None:
            try:
                model.load_state_dict(self.init_state)
            except RuntimeError as exc:
                raise RunConfigError(f"[method] init {self.options['init']}: does not fit the backbone ({exc})") from exc
        return model

    def train_dataset(self) -> SSLLTrainSet:
        d = self.data
        pairs = PairSource(
            low_dir=self._path(d["paired_low"]) if d["paired_low"] else None,
            high_dir=self._path(d["paired_high"]) if d["paired_high"] else None,
            synthetic_dir=self._path(d["paired_synthetic"]) if d["paired_synthetic"] else None,
            synthetic_split=d["synthetic_split"],
        )
        unpaired = [p for folder in d["unpaired"] for p in image_paths(self._path(folder))] if self.semi else []
        return SSLLTrainSet(pairs, unpaired, d["crop_size"], d["unpaired_views"])

    def weights_used(self) -> dict[str, str]:
        return self.sup_loss.weights_used()

    def enhance(self, model: nn.Module, image: torch.Tensor) -> torch.Tensor:
        return model(image).clamp(0, 1)

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        ema = self.context.ema
        if ema is None:
            raise RunConfigError("SSLL needs the engine's EMA: set [train] ema_decay")
        step = self.step_offset + self.context.iteration
        # the engine applies ema.decay right after this step's optimizer update
        ema.decay = ema_decay(step, float(self.config.train["ema_decay"]))
        low, gt = batch["low"], batch["gt"]
        if not self.semi:
            out = model(low).clamp(0, 1)
            l_sup, parts = self.sup_loss(out, gt)
            return StepOutput(l_sup, {**parts, "ema_decay": ema.decay}, loss_inputs=LossInputs(low, out, gt))
        return self._semi_step(model, ema.module, batch, step)

    def _semi_step(self, model: nn.Module, teacher: nn.Module, batch: dict[str, torch.Tensor], step: int) -> StepOutput:
        o = self.options
        low, gt = batch["low"], batch["gt"]
        total = int(self.config.train["iterations"])
        mu = cutmix_mu(self.context.iteration, 0, total)
        mixed = cutmix(batch["student"], batch["teacher"], low, mu, self._generator(), o["cutmix_placement"])
        unpaired_mask = 1.0 - mixed.paired_mask
        n = low.shape[0]
        # one call for both inputs: DDP allows a single forward per backward
        outputs = model(torch.cat([low, mixed.student])).clamp(0, 1)
        out, out_mix = outputs[:n], outputs[n:]
        with torch.no_grad():
            teacher_out = teacher(torch.cat([low, mixed.teacher])).clamp(0, 1)
        t_paired, t_mix = teacher_out[:n], teacher_out[n:]

        l_sup, parts = self.sup_loss(out, gt)
        l_ctr_p = pico_loss(out, gt, t_paired, o["gamma"], o["margin_paired"])
        l_con = consistency_loss(out_mix, t_mix, unpaired_mask)
        negative = match_brightness(mixed.student, t_mix)
        l_ctr_u = pico_loss(out_mix, t_mix, negative, o["gamma"], o["margin_unpaired"], unpaired_mask)
        length = int(o["ramp_length"]) or (self.step_offset + total)
        weight = ramp(step, length)
        loss = l_sup + o["lambda_p"] * l_ctr_p + weight * (l_con + o["lambda_u"] * l_ctr_u)
        logs = {**parts, "sup": l_sup, "ctr_p": l_ctr_p, "con": l_con, "ctr_u": l_ctr_u, "ramp": weight,
                "cutmix_mu": mu, "paired_area": mixed.paired_mask.mean(), "ema_decay": self.context.ema.decay}
        # [[losses]] terms see the paired half only: its reference is real ground truth
        return StepOutput(loss, logs, loss_inputs=LossInputs(low, out, gt))

    def _generator(self) -> torch.Generator:
        """CutMix randomness: a pure function of (seed, iteration, rank), so resume replays it."""
        key = f"ssll-cutmix:{self.config.train['seed']}:{self.context.iteration}:{self.context.rank}"
        return torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))

    def state_dict(self) -> dict[str, Any]:
        return {"step_offset": self.step_offset}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_offset = int(state.get("step_offset", self.step_offset))
