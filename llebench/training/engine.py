"""The generic training loop: one function, :func:`train`, for every trainer plugin.

It owns what every recipe shares: device and DDP set-up, seeding and CPU determinism,
AMP and channels_last, gradient clipping, optimizer and scheduler, EMA, atomic
checkpoints and exact resume, CSV/TensorBoard logs, a progress bar and validation with
the benchmark's metrics. docs/plugins.md ("A trainer") says how a trainer plugs in.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from llebench import provenance
from llebench.atomic import remove_stale_temporaries
from llebench.context import Context
from llebench.errors import LLEBenchError, RunConfigError
from llebench.lock import RunLock
from llebench.plugins import PluginSet
from llebench import distributed
from llebench.training.api import StepOutput, TrainContext, Trainer
from llebench.training.checkpoint import CheckpointDir, atomic_torch_save
from llebench.training.config import TrainConfig
from llebench.cpu_memory import keep_freed_memory
from llebench.training.data import GlobalBatchSampler, KeyedDataset
from llebench.training.ema import EMA
from llebench.training.logs import TrainLogger
from llebench.training.terms import LossTerms
from llebench.training.validation import Validator

MODEL_FORMAT = "llebench-trained-model/1"


class TrainingError(LLEBenchError):
    """Training cannot go on (non-finite loss, an existing run without --resume, ...)."""


class NonFiniteLoss(TrainingError):
    """The loss of a step is NaN or infinite (:func:`train` adds the last checkpoint to the message)."""


@dataclass
class TrainResult:
    out: Path
    iteration: int
    #: the newest checkpoint (full training state)
    checkpoint: Path | None
    #: ``model.pt``: the exported weights and provenance, for ``llebench run --weights``
    model: Path | None
    logs: dict[str, float] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)


def train(
    trainer_cls: type[Trainer],
    config: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    context: Context | None = None,
) -> TrainResult:
    """Train ``trainer_cls`` as ``config`` says, writing checkpoints and logs under ``out``.

    With ``resume`` the newest complete checkpoint in ``out/checkpoints`` is continued
    exactly (same weights as an uninterrupted run, on the same hardware and thread count);
    without it an ``out`` that already holds checkpoints is refused. Under ``torchrun``
    every process calls this; only rank 0 writes files, holding ``out``'s writer lock
    (:mod:`llebench.lock`: a second training or run on the same directory is refused at
    once, naming the holder; a killed one's temporaries are removed). ``context`` gives
    the data root and the registry (validation datasets and metrics, losses); its device
    is ignored: the config's ``train.device`` decides.
    """
    context = context if context is not None else Context()
    writer = int(os.environ.get("RANK", "0")) == 0
    with RunLock(Path(out)) if writer else contextlib.nullcontext():
        if writer:
            remove_stale_temporaries(out)
        info, device = distributed.setup(str(config.train["device"]))
        try:
            with runtime_settings(config, device):
                train_ctx = train_context(config, device, Path(out), rank=info.rank, world_size=info.world_size,
                                          data_root=context.data_root, plugins=context.plugins)
                return _Run(trainer_cls, config, resume, info, train_ctx).execute()
        finally:
            distributed.teardown(info)


@contextlib.contextmanager
def runtime_settings(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """Deterministic kernels and the thread count for the duration of the run, restored afterwards;
    on CPU, freed memory kept for reuse (:mod:`llebench.cpu_memory`, process-wide).

    Results are bit-reproducible (and resume is exact) for the same device and the same
    number of CPU threads: a different thread count changes the order of float sums.
    Deterministic mode would also fill every new tensor with NaN, a debugging aid against
    kernels that read uninitialised memory; results do not depend on it and it costs time
    on every allocation, so it is switched off.
    """
    wanted = bool(config.train["deterministic"])
    previous = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    threads = torch.get_num_threads()
    if int(config.train["threads"]):
        torch.set_num_threads(int(config.train["threads"]))
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if device.type == "cpu" and config.train["reuse_cpu_memory"]:
        keep_freed_memory()
    if device.type == "cpu" and wanted:
        torch.use_deterministic_algorithms(True)
        torch.utils.deterministic.fill_uninitialized_memory = False
    elif device.type == "cuda":
        torch.backends.cudnn.deterministic = wanted
        torch.backends.cudnn.benchmark = not wanted
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.set_num_threads(threads)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch and CUDA generator states, in types ``weights_only`` loading accepts."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def build_optimizer(settings: dict[str, Any], parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
    lr, wd = float(settings["lr"]), float(settings["weight_decay"])
    if settings["name"] == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=wd, betas=tuple(settings["betas"]))
    if settings["name"] == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=wd, betas=tuple(settings["betas"]))
    return torch.optim.SGD(parameters, lr=lr, weight_decay=wd, momentum=float(settings["momentum"]))


def build_scheduler(settings: dict[str, Any], optimizer: torch.optim.Optimizer, iterations: int):
    """A per-iteration learning-rate schedule, or None."""
    if settings["name"] == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, int(settings["step_size"]), float(settings["gamma"]))
    if settings["name"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations, eta_min=float(settings["min_lr"]))
    return None


def to_device(batch: Any, device: torch.device, channels_last: bool) -> Any:
    """Move tensors (in nested lists, tuples, dicts) to ``device``; 4-D float ones channels_last."""
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.dim() == 4 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, channels_last) for v in batch)
    return batch


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "none":
        return None
    if amp == "fp16" and device.type != "cuda":
        raise RunConfigError("train.amp = 'fp16' needs CUDA (use 'bf16' on CPU)")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def train_context(config: TrainConfig, device: torch.device, out: Path, *, rank: int = 0, world_size: int = 1,
                  data_root: Path | None = None, plugins: PluginSet | None = None) -> TrainContext:
    """The context :func:`train` gives a trainer: AMP dtype and channels_last resolved for ``device``.

    ``channels_last = "auto"`` is on for CUDA only: on CPU (oneDNN) DCE-Net's NCHW
    convolutions train 10-20% faster than NHWC ones (measured on the development machine).
    """
    t = config.train
    channels_last = t["channels_last"] is True or t["channels_last"] == "auto" and device.type == "cuda"
    return TrainContext(device=device, out=out, rank=rank, world_size=world_size, data_root=data_root,
                        plugins=plugins, amp_dtype=_amp_dtype(t["amp"], device), channels_last=channels_last)


class TrainStep:
    """The training state and one optimizer iteration, exactly as :func:`train` runs them.

    Building it creates the model (on the device, channels_last if the context says so),
    the EMA (``context.ema``), the optimizer, the scheduler and the GradScaler from the
    config. Calling it does one iteration: batch to the device, the trainer's loss under
    autocast, the finite-loss check, backward, gradient clipping, optimizer, scaler,
    scheduler and EMA updates. :func:`train` adds the data loader, logs, validation and
    checkpoints around it. It is public so that ``bench/train_step.py`` times the
    engine's own iteration on an in-memory batch rather than a copy of it.
    """

    def __init__(self, trainer: Trainer, config: TrainConfig) -> None:
        t = config.train
        self.trainer, self.context = trainer, trainer.context
        device = self.context.device
        model = trainer.build_model().to(device).train()
        if self.context.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        #: what ``training_step`` is called with: the model, or its DDP wrapper (set by :func:`train`)
        self.wrapped: nn.Module = model
        self.ema = EMA(model, float(t["ema_decay"])) if float(t["ema_decay"]) > 0 else None
        self.context.ema = self.ema
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        if not self.parameters:
            raise TrainingError(f"trainer {trainer.name!r} built a model without trainable parameters")
        #: the config's [[losses]]; their trainable parts (projection heads) are optimised too
        self.terms = LossTerms(config.losses, self.context, str(t["feature_nets"]))
        self.term_parameters = self.terms.parameters()
        self.parameters += self.term_parameters
        self.optimizer = build_optimizer(config.optimizer, self.parameters)
        self.scheduler = build_scheduler(config.scheduler, self.optimizer, int(t["iterations"]))
        self.scaler = torch.amp.GradScaler(device.type, enabled=t["amp"] == "fp16")
        self.clip = float(t["grad_clip"])

    def __call__(self, iteration: int, batch: Any) -> tuple[StepOutput, torch.Tensor | None]:
        """One iteration (0-based ``iteration``) on a loader batch: the trainer's output and the
        gradient norm before clipping (None without clipping).

        Raises :class:`NonFiniteLoss` before any update when the loss is NaN or infinite.
        """
        context, device = self.context, self.context.device
        context.iteration = iteration
        batch = to_device(batch, device, context.channels_last)
        with autocast_context(device, context.amp_dtype):
            step = self.trainer.training_step(self.wrapped, batch)
            if self.terms:
                step.loss = self.terms.add_to(step.loss, step.logs, step.loss_inputs, self.trainer.name)
        if not torch.isfinite(step.loss.detach()):
            raise NonFiniteLoss(f"iteration {iteration + 1}: the loss is {step.loss.item()}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(step.loss).backward()
        if self.term_parameters and context.world_size > 1:  # DDP averages the network's gradients only
            distributed.average_gradients(self.term_parameters)
        grad_norm = None
        if self.clip > 0:
            self.scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return step, grad_norm


class _Run:
    """One execution of :func:`train` (holds the objects the loop shares)."""

    def __init__(self, trainer_cls: type[Trainer], config: TrainConfig, resume: bool,
                 info: distributed.DistInfo, context: TrainContext) -> None:
        self.config, self.resume, self.info, self.context = config, resume, info, context
        self.out, self.device = context.out, context.device
        self.main = info.rank == 0
        self.trainer = trainer_cls(config, context)
        self.checkpoints = CheckpointDir(self.out / "checkpoints")
        self.total = int(config.train["iterations"])

    # -- set-up --------------------------------------------------------------------------

    def _restore(self) -> dict[str, Any] | None:
        found = self.checkpoints.find_latest()
        if found is None:
            if self.checkpoints.candidates():
                raise TrainingError(f"{self.checkpoints.root}: no complete checkpoint to resume from "
                                    "(every iter_*.pt is damaged); move them away to start again")
            return None
        path, state = found
        if not self.resume:
            raise TrainingError(f"{self.out} already holds a training run ({path.name}); "
                                "pass --resume to continue it or choose another --out")
        changed = self.config.differences(state["provenance"]["config"])
        if changed:
            raise TrainingError(f"cannot resume {path}: the config changed ({'; '.join(changed)})")
        if state["method"] != self.trainer.name:
            raise TrainingError(f"cannot resume {path}: it was trained by {state['method']!r}, not {self.trainer.name!r}")
        return state

    def _load_state(self, step: TrainStep, state: dict[str, Any]) -> int:
        """Put a checkpoint's full training state back; returns the iteration it reached."""
        s = state["state"]
        step.model.load_state_dict(s["network"])
        step.optimizer.load_state_dict(s["optimizer"])
        if step.scheduler is not None:
            step.scheduler.load_state_dict(s["scheduler"])
        step.scaler.load_state_dict(s["scaler"])
        if step.ema is not None:
            step.ema.load_state_dict(s["ema"])
        step.terms.load_state_dict(s.get("losses", {}))
        self.trainer.load_state_dict(s["trainer"])
        set_rng_state(s["rng"])
        return int(state["iteration"])

    def _loader(self, dataset: torch.utils.data.Dataset, start: int) -> torch.utils.data.DataLoader:
        t = self.config.train
        try:
            sampler = GlobalBatchSampler(len(dataset), int(t["batch_size"]), int(t["seed"]), start, self.total,
                                         self.info.rank, self.info.world_size)
        except ValueError as exc:
            raise RunConfigError(f"train.batch_size: {exc}") from exc
        # its own generator: iterating a loader draws a base seed, which from the global RNG
        # would shift every later global draw of a resumed run (a loss's sampled patches)
        return torch.utils.data.DataLoader(KeyedDataset(dataset), batch_sampler=sampler,
                                           num_workers=int(t["num_workers"]), pin_memory=self.device.type == "cuda",
                                           generator=torch.Generator().manual_seed(int(t["seed"]) + start))

    def _provenance(self, dataset: torch.utils.data.Dataset, terms: LossTerms) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "data": dataset.describe() if callable(getattr(dataset, "describe", None)) else {"images": len(dataset)},
            "weights": {**self.trainer.weights_used(), **terms.weights_used()},
            "losses": terms.settings(),
            "enhancer": self.trainer.enhancer,
            "world_size": self.info.world_size,
            "environment": provenance.environment(str(self.device)),
        }

    # -- the loop --------------------------------------------------------------------------

    def execute(self) -> TrainResult:
        t = self.config.train
        seed_everything(int(t["seed"]))
        step = TrainStep(self.trainer, self.config)
        state = self._restore()
        start = self._load_state(step, state) if state is not None else 0
        if start >= self.total:
            raise TrainingError(f"{self.out} is already trained to iteration {start} (train.iterations = "
                                f"{self.total}); raise train.iterations to continue")
        if self.info.enabled:
            step.wrapped = DistributedDataParallel(
                step.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        dataset = self.trainer.train_dataset()
        loader = self._loader(dataset, start)
        provenance_info = self._provenance(dataset, step.terms)
        self.untrained = bool(self.trainer.untrained or step.terms.untrained)
        logger = TrainLogger(self.out, start if state is not None else None) if self.main else None
        validator = self._validator() if self.main and self.config.validation["dataset"] else None

        result = TrainResult(out=self.out, iteration=start, checkpoint=None, model=None)
        began = time.perf_counter()
        bar = tqdm(total=self.total, initial=start, desc=f"train {self.trainer.name}", unit="it",
                   disable=not (self.main and t["progress"]) or None)
        try:
            for iteration, batch in zip(range(start, self.total), loader):
                output, grad_norm = self._step(step, iteration, batch)
                done = iteration + 1
                bar.update(1)
                self._log(done, output, grad_norm, step, began, result, logger, bar)
                if validator is not None and (done == self.total or self._due(done, self.config.validation["every"])):
                    result.validation = self._validate(validator, step.model, step.ema)
                    logger.log("validation", done, result.validation)
                if done == self.total or self._due(done, t["checkpoint_every"]):
                    self._checkpoint(done, step, provenance_info, result)
                result.iteration = done
        finally:
            bar.close()
            if logger is not None:
                logger.close()
        if self.main:
            result.model = self.out / "model.pt"
            export = self._payload(step.model, step.ema, provenance_info)
            atomic_torch_save({**export, "format": MODEL_FORMAT, "iteration": result.iteration}, result.model)
        distributed.barrier(self.info)
        return result

    @staticmethod
    def _due(done: int, every: int) -> bool:
        return bool(int(every)) and done % int(every) == 0

    def _step(self, step: TrainStep, iteration: int, batch: Any) -> tuple[StepOutput, torch.Tensor | None]:
        try:
            return step(iteration, batch)
        except NonFiniteLoss as exc:
            last = self.checkpoints.candidates()
            raise TrainingError(f"{exc}; last checkpoint: {last[0] if last else 'none'} "
                                "(lower the learning rate or check the data)") from None

    def _log(self, done: int, output: StepOutput, grad_norm: torch.Tensor | None, step: TrainStep, began: float,
             result: TrainResult, logger: TrainLogger | None, bar: tqdm) -> None:
        """Every ``log_every`` iterations (and the last): the loss and its terms, averaged over ranks."""
        if not (done == self.total or self._due(done, self.config.train["log_every"])):
            return
        values = {"loss": output.loss.detach().float().item(),
                  **{k: float(v.detach().float().item() if isinstance(v, torch.Tensor) else v)
                     for k, v in output.logs.items()}}
        if grad_norm is not None:
            values["grad_norm"] = float(grad_norm)
        values = distributed.mean_over_ranks(values, self.info, self.device)
        values["lr"] = step.optimizer.param_groups[0]["lr"]
        values["seconds"] = time.perf_counter() - began
        result.logs = values
        if logger is not None:
            logger.log("train", done, values)
            bar.set_postfix(loss=f"{values['loss']:.4g}")

    def _checkpoint(self, done: int, step: TrainStep, provenance_info: dict[str, Any], result: TrainResult) -> None:
        """The full training state of iteration ``done`` (rank 0 writes it, every rank waits)."""
        if self.main:
            payload = self._payload(step.model, step.ema, provenance_info)
            payload["state"] = {
                "network": step.model.state_dict(), "optimizer": step.optimizer.state_dict(),
                "scheduler": step.scheduler.state_dict() if step.scheduler is not None else None,
                "scaler": step.scaler.state_dict(), "ema": step.ema.state_dict() if step.ema is not None else None,
                "losses": step.terms.state_dict(), "trainer": self.trainer.state_dict(), "rng": rng_state(),
            }
            result.checkpoint = self.checkpoints.save(done, payload, int(self.config.train["keep_checkpoints"]))
        distributed.barrier(self.info)

    # -- helpers -------------------------------------------------------------------------

    def _payload(self, model: nn.Module, ema: EMA | None, provenance_info: dict[str, Any]) -> dict[str, Any]:
        """What the enhancer needs: exported weights under "model", the untrained flag, provenance."""
        source = self._exported_network(model, ema)
        exported = {k: v.detach().cpu().contiguous() for k, v in self.trainer.export_state(source).items()}
        return {"method": self.trainer.name, "model": exported, "untrained": self.untrained,
                "provenance": {**provenance_info, "saved": provenance.now()}}

    def _validator(self) -> Validator:
        return Validator(self.context, self.config.validation)

    def _exported_network(self, model: nn.Module, ema: EMA | None) -> nn.Module:
        """The network whose weights checkpoints and ``model.pt`` hold under "model": the EMA
        with ``train.export_ema``, else the raw model (even when an EMA is kept as a teacher)."""
        return ema.module if ema is not None and self.config.train["export_ema"] else model

    def _validate(self, validator: Validator, model: nn.Module, ema: EMA | None) -> dict[str, float]:
        """Score the exported network, so a validation row describes the file ``llebench run`` would load."""
        net = self._exported_network(model, ema)
        was_training = net.training
        net.eval()
        try:
            return validator.run(lambda image: self.trainer.enhance(net, image))
        finally:
            net.train(was_training)
