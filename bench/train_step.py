"""Training step: the Zero-DCE and SCL-LLE trainers' iteration vs a plain PyTorch loop.

Ours is ``llebench.training.engine.TrainStep``, the object ``train()`` calls once per
iteration (batch to the device, the trainer's ``training_step`` under autocast, the
finite-loss check, zero_grad, backward, gradient clipping, optimizer, GradScaler,
scheduler and EMA updates), built from the shipped recipe (``configs/train/*.toml``) and
run under the engine's ``runtime_settings()``, exactly as ``llebench train`` does,
with the engine's defaults: on CPU, deterministic kernels, NCHW, and freed memory kept for
the next step (``llebench/cpu_memory.py``). Left out of both sides: data loading,
logging every ``log_every`` iterations, checkpoints.

The reference is the loop of the official scripts (Zero-DCE ``lowlight_train.py``, SCL-LLE
``train.py``): ``net(x)``, the loss, ``zero_grad``, ``backward``, ``clip_grad_norm_``,
``Adam.step`` with the official hyper-parameters, in a plain PyTorch process (NCHW,
glibc's default allocator). SCL-LLE's paper recipe (llebench's default config) gets the
same loop with its own loss and Adam settings. The reference uses the same ``DCENet``
class, the same loss functions, the same frozen VGG-16/DeepLabV3+, the same initial
weights and the same in-memory batch, so only the harness differs; the losses of the
first (warm-up) step must agree. The official SCL-LLE script runs VGG-16 on the output
three times (two Gram terms and the perceptual term); the reference runs each image set
once, as ours does, so the ratio measures the harness and not that redundancy.

Each side runs in its own process (the allocator setting is process-wide), started once;
the parent asks them in turn, alternating which goes first, for ``--iterations`` timed
steps, ``--repeats`` times, and reports the median of the paired ratios.

No VGG-16 ImageNet or DeepLabV3+ Cityscapes weights are available here, so SCL-LLE uses
``method.feature_nets = "random"``: same architectures, same cost. Cityscapes is not
available either: SCL-LLE inputs are SICE Part 1 images with synthetic label maps.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from _common import Result, at_most, data_dir, report
from llebench_dcenet.dcenet import DCENet
from llebench_dcenet.losses import (
    color_constancy_loss,
    exposure_loss,
    illumination_smoothness_loss,
    spatial_consistency_loss,
)
from llebench.sdk.nets import IGNORE_INDEX, NUM_CLASSES
from llebench_dcenet import scl_losses as scl
from llebench_dcenet.scl_trainer import SCLLLETrainer
from llebench_dcenet.zero_dce_trainer import ZeroDCETrainer
from torch import nn

from llebench.images import read_image
from llebench.training import TrainConfig
from llebench.training.engine import (
    TrainStep,
    runtime_settings,
    seed_everything,
    train_context,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "train"
CPU = torch.device("cpu")


# -- the official scripts' losses, written with llebench's loss functions ---------------


@dataclass
class FrozenNets:
    """The reference's VGG-16 and DeepLabV3+: copies of the trainer's, in PyTorch's default NCHW layout."""

    vgg: nn.Module
    segmenter: nn.Module | None

    @classmethod
    def copy_of(cls, trainer: Any) -> FrozenNets | None:
        if not hasattr(trainer, "vgg"):
            return None
        nchw = {"memory_format": torch.contiguous_format}
        segmenter = copy.deepcopy(trainer.segmenter).to(**nchw) if trainer.segmenter is not None else None
        return cls(copy.deepcopy(trainer.vgg).to(**nchw), segmenter)


def zero_dce_loss(net: nn.Module, images: torch.Tensor, _frozen: FrozenNets | None) -> torch.Tensor:
    """``lowlight_train.py``: 200 L_TV + L_spa + 5 L_col + 10 L_exp(16, 0.6)."""
    enhanced, curves = net(images)
    return (200 * illumination_smoothness_loss(curves) + spatial_consistency_loss(enhanced, images)
            + 5 * color_constancy_loss(enhanced) + 10 * exposure_loss(enhanced, 16, 0.6))


def scl_official_loss(net: nn.Module, batch: dict[str, torch.Tensor], frozen: FrozenNets) -> torch.Tensor:
    """SCL-LLE ``train.py``: 200 L_TV + 8 L_col + L_segexp + 10 grey triplet + 5 Gram triplet + CE + MSE."""
    low, labels, positive, negative = batch["low"], batch["labels"], batch["positive"], batch["negative"]
    enhanced, curves = net(low)
    vgg, segmenter = frozen.vgg, frozen.segmenter
    output = vgg(enhanced, ("relu1_2", "relu2_2", "relu4_3"))
    with torch.no_grad():
        positive_grams = vgg(positive, ("relu1_2", "relu2_2"))
        negative_grams = vgg(negative, ("relu1_2", "relu2_2"))
        low_features = vgg(low, ("relu4_3",))[0]
        segmentation = F.cross_entropy(segmenter.logits(enhanced), labels, ignore_index=IGNORE_INDEX)
    contrast = 10 * scl.triplet(scl.official_grey_l1(enhanced, positive), scl.official_grey_l1(enhanced, negative), 0.3)
    gram = 5 * scl.triplet(scl.official_gram_distance(output[:2], positive_grams),
                           scl.official_gram_distance(output[:2], negative_grams), 0.04)
    return (200 * illumination_smoothness_loss(curves) + 8 * color_constancy_loss(enhanced)
            + scl.official_segexp(enhanced, labels) + contrast + gram + segmentation
            + F.mse_loss(low_features, output[2]))


def scl_paper_loss(net: nn.Module, batch: dict[str, torch.Tensor], frozen: FrozenNets) -> torch.Tensor:
    """SCL-LLE, the paper's L_c + L_sc + L_fr + L_cc (Adam 1e-4, no clipping)."""
    low, labels, positive, negative = batch["low"], batch["labels"], batch["positive"], batch["negative"]
    enhanced, curves = net(low)
    vgg = frozen.vgg
    output = vgg(enhanced, ("relu1_2", "relu2_2", "relu4_3"))
    with torch.no_grad():
        positive_grams = vgg(positive, ("relu1_2", "relu2_2"))
        negative_grams = vgg(negative, ("relu1_2", "relu2_2"))
        low_features = vgg(low, ("relu4_3",))[0]
    gram = scl.triplet(scl.gram_distance(output[:2], positive_grams), scl.gram_distance(output[:2], negative_grams), 0.3)
    mean = scl.triplet(scl.expectation_distance(enhanced, positive), scl.expectation_distance(enhanced, negative), 0.04)
    semantic = (scl.semantic_brightness(enhanced, labels, NUM_CLASSES)
                + F.cross_entropy(frozen.segmenter.logits(enhanced), labels, ignore_index=IGNORE_INDEX))
    return (gram + mean + semantic + F.mse_loss(output[2], low_features)
            + scl.color_constancy(enhanced) + 200 * scl.curve_tv_l1(curves))


class PlainLoop:
    """The official scripts' iteration: loss, ``zero_grad``, ``backward``, clip, ``Adam.step``."""

    def __init__(self, net: nn.Module, loss: Callable, frozen: FrozenNets | None, lr: float, weight_decay: float,
                 clip: float) -> None:
        self.net, self.loss, self.frozen, self.clip = net.train(), loss, frozen, clip
        self.optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)

    def __call__(self, batch: Any) -> torch.Tensor:
        loss = self.loss(self.net, batch, self.frozen)
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
        self.optimizer.step()
        return loss


# -- the cases ---------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    trainer_cls: type
    config: str
    overrides: dict[str, Any]
    loss: Callable
    #: the recipe's Adam (lr, weight decay) and gradient-norm clip (0 = none), as its script has them
    optimizer: tuple[float, float, float]
    #: the recipe's batch: what the sizes given here stand in for
    recipe_size: str
    note: str = ""


RANDOM_NETS = "VGG-16 + DeepLabV3+ RANDOM (feature_nets=random; no weights here, same cost)"
CASES = {
    "zero_dce": Case("train zero_dce vs plain loop", ZeroDCETrainer, "zero_dce.toml", {},
                     zero_dce_loss, (1e-4, 1e-4, 0.1), "8 x 256x256"),
    "scl_official": Case("train scl_lle (official) vs loop", SCLLLETrainer, "scl_lle_official.toml",
                         {"method.feature_nets": "random"}, scl_official_loss, (1e-4, 1e-4, 0.1), "2 x 384x384",
                         RANDOM_NETS),
    "scl_paper": Case("train scl_lle (paper) vs loop", SCLLLETrainer, "scl_lle.toml",
                      {"method.feature_nets": "random"}, scl_paper_loss, (1e-4, 0.0, 0.0), "2 x 384x384",
                      RANDOM_NETS),
}


def sice_images(count: int, size: int, offset: int = 0) -> torch.Tensor:
    paths = sorted((data_dir() / "SICE_part1").glob("*.jpg"))[offset:offset + count]
    if len(paths) < count:
        raise SystemExit(f"need {offset + count} images in {data_dir() / 'SICE_part1'} (set $LLEBENCH_DATA)")
    return torch.cat([F.interpolate(read_image(p), size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)
                      for p in paths])


def scl_batch(batch: int, size: int) -> dict[str, torch.Tensor]:
    """Darkened SICE images, band-shaped label maps over all 19 classes with an ignored border."""
    rows = torch.arange(size).mul(NUM_CLASSES).div(size, rounding_mode="floor")
    labels = rows[:, None].expand(size, size).clone()
    labels[:, : size // 16] = IGNORE_INDEX
    return {"low": sice_images(batch, size).pow(2.0), "labels": labels.expand(batch, size, size).clone(),
            "positive": sice_images(batch, size, batch), "negative": sice_images(batch, size, 2 * batch)}


def build(case: Case, out: Path) -> tuple[TrainStep, TrainConfig]:
    """Ours, as ``llebench train`` builds it (seeded, then the model)."""
    config = TrainConfig.load(CONFIGS / case.config, case.trainer_cls, case.overrides)
    ours = (float(config.optimizer["lr"]), float(config.optimizer["weight_decay"]), float(config.train["grad_clip"]))
    if config.optimizer["name"] != "adam" or ours != case.optimizer or config.scheduler["name"] != "none":
        raise SystemExit(f"{case.config}: {config.optimizer['name']} (lr, weight decay, clip) = {ours}, scheduler "
                         f"{config.scheduler['name']}: not the reference's Adam {case.optimizer} without a schedule")
    trainer = case.trainer_cls(config, train_context(config, CPU, out))
    seed_everything(int(config.train["seed"]))
    return TrainStep(trainer, config), config


def make_batch(case: Case, count: int, size: int) -> Any:
    return sice_images(count, size) if case.trainer_cls is ZeroDCETrainer else scl_batch(count, size)


def side(connection: Any, key: str, which: str, count: int, size: int) -> None:
    """One side of the comparison, in its own process: ``which`` is "ours" or "reference".

    Answers each request ``n`` with (seconds per iteration over n steps, last loss) until None.
    """
    case = CASES[key]
    batch = make_batch(case, count, size)
    with tempfile.TemporaryDirectory(prefix="llebench-bench-") as out:
        ours, config = build(case, Path(out))
        with contextlib.ExitStack() as stack:
            if which == "ours":
                stack.enter_context(runtime_settings(config, CPU))  # as train() does, for the whole run
                counter = iter(range(10**9))

                def step() -> torch.Tensor:
                    return ours(next(counter), batch)[0].loss
            else:
                net = DCENet()
                net.load_state_dict(ours.model.state_dict())
                reference = PlainLoop(net, case.loss, FrozenNets.copy_of(ours.trainer), *case.optimizer)
                del ours

                def step() -> torch.Tensor:
                    return reference(batch)
            connection.send("ready")
            while (iterations := connection.recv()) is not None:
                start = time.perf_counter()
                for _ in range(iterations):
                    loss = step()
                connection.send(((time.perf_counter() - start) / iterations, float(loss.detach())))


def measure(key: str, count: int, size: int, iterations: int, repeats: int) -> Result:
    case = CASES[key]
    context = multiprocessing.get_context("spawn")
    workers = {}
    for which in ("ours", "reference"):
        parent, child = context.Pipe()
        process = context.Process(target=side, args=(child, key, which, count, size), daemon=True)
        process.start()
        workers[which] = (parent, process)
    try:
        for parent, _ in workers.values():
            if parent.recv() != "ready":
                raise SystemExit(f"{case.name}: a worker did not start")

        def ask(which: str, n: int) -> tuple[float, float]:
            workers[which][0].send(n)
            return workers[which][0].recv()

        # warm-up: the first step of each, from the same weights on the same batch
        ours_loss, reference_loss = ask("ours", 1)[1], ask("reference", 1)[1]
        difference = abs(ours_loss - reference_loss) / max(abs(reference_loss), 1e-12)
        if difference > 1e-4:
            raise SystemExit(f"{case.name}: first-step losses differ (ours {ours_loss}, reference "
                             f"{reference_loss}): the two loops do not compute the same thing")
        times: dict[str, list[float]] = {"ours": [], "reference": []}
        for repeat in range(repeats):
            order = ["ours", "reference"] if repeat % 2 == 0 else ["reference", "ours"]
            for which in order:
                times[which].append(ask(which, iterations)[0])
    finally:
        for parent, process in workers.values():
            with contextlib.suppress(OSError):
                parent.send(None)
            process.join(timeout=60)
    t_ours, t_ref = statistics.median(times["ours"]), statistics.median(times["reference"])
    # each repeat times both loops back to back: the median of their ratios cancels load changes
    ratios = [o / r for o, r in zip(times["ours"], times["reference"], strict=True)]
    ratio = statistics.median(ratios)
    spread = statistics.median(abs(x - ratio) for x in ratios)
    config = TrainConfig.load(CONFIGS / case.config, case.trainer_cls, case.overrides)
    layout = "channels_last" if train_context(config, CPU, Path(".")).channels_last else "NCHW"
    ema = "EMA" if float(config.train["ema_decay"]) > 0 else "no EMA"
    memory = "freed memory kept" if config.train["reuse_cpu_memory"] else "default allocator"
    detail = (f"median {t_ours * 1e3:.0f} vs {t_ref * 1e3:.0f} ms/it, ratio +-{spread:.3f} (median abs. deviation); "
              f"batch {count} x {size}x{size} (recipe {case.recipe_size}); {iterations} it x {repeats}; first loss "
              f"rel diff {difference:.0e}; ours {layout}, {ema}, {memory} (defaults)")
    return at_most(case.name, ratio, 1.0, detail + (f"; {case.note}" if case.note else ""))


def cuda_defaults() -> str:
    """What a train config without [train] amp/channels_last gives on CUDA, per trainer."""
    parts = []
    for trainer_cls in (ZeroDCETrainer, SCLLLETrainer):
        config = TrainConfig.from_dict({}, trainer_cls)
        context = train_context(config, torch.device("cuda"), Path("."))
        amp = "on" if context.amp_dtype is not None else "off"
        parts.append(f"{trainer_cls.name}: AMP {amp} (train.amp = {config.train['amp']!r}), channels_last "
                     f"{'on' if context.channels_last else 'off'} (train.channels_last = {config.train['channels_last']!r})")
    return "# on CUDA by default: " + "; ".join(parts)


def main() -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zero-dce-batch", type=int, default=8)
    parser.add_argument("--zero-dce-size", type=int, default=128)
    parser.add_argument("--scl-batch", type=int, default=2)
    parser.add_argument("--scl-size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=3, help="iterations per timed sample")
    parser.add_argument("--repeats", type=int, default=5, help="timed samples of each loop (median), interleaved")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.zero_dce_batch, args.zero_dce_size, args.scl_batch, args.scl_size = 8, 32, 2, 64
        args.iterations, args.repeats = 2, 3
    print(cuda_defaults(), flush=True)
    results = []
    for key in args.cases:
        if CASES[key].trainer_cls is ZeroDCETrainer:
            count, size = args.zero_dce_batch, args.zero_dce_size
        else:
            count, size = args.scl_batch, args.scl_size
        results.append(measure(key, count, size, args.iterations, args.repeats))
    return results


if __name__ == "__main__":
    report(main())
