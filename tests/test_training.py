"""The generic training engine, exercised through the Zero-DCE trainer on tiny generated images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from llebench_dcenet.zero_dce_trainer import ZeroDCETrainer
from PIL import Image

from llebench.cli import main
from llebench.errors import RunConfigError
from llebench.training import TrainConfig, TrainingError, train
from llebench.training.checkpoint import CheckpointDir, load_checkpoint
from llebench.training.data import GlobalBatchSampler
from llebench.training.engine import seed_everything


def make_images(folder: Path, count: int = 8, size: int = 32) -> Path:
    """Dark, colourful, textured RGB images (deterministic)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(123)
    for i in range(count):
        base = rng.uniform(0.02, 0.25, size=(1, 1, 3))
        noise = rng.uniform(0.0, 0.15, size=(size, size, 3))
        Image.fromarray(np.uint8(np.clip(base + noise, 0, 1) * 255)).save(folder / f"img{i}.png")
    return folder


def config(root: Path, **train_keys) -> TrainConfig:
    raw = {
        "train": {"iterations": 6, "batch_size": 4, "checkpoint_every": 2, "log_every": 1, "grad_clip": 0.1,
                  "progress": False, "threads": 1, **train_keys},
        "optimizer": {"lr": 1e-4, "weight_decay": 1e-4},
        "data": {"root": str(root), "image_size": 32},
    }
    return TrainConfig.from_dict(raw, ZeroDCETrainer)


def model_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def log_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "train_log.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("train") / "images")


def dataset_loss(trainer: ZeroDCETrainer, net: torch.nn.Module) -> float:
    batch = torch.stack([trainer.train_dataset()[i] for i in range(8)])
    with torch.no_grad():
        return float(trainer.training_step(net, batch).loss)


def test_training_lowers_the_loss(images, tmp_path):
    cfg = config(images, iterations=20, checkpoint_every=20)
    cfg.optimizer["lr"] = 1e-3
    result = train(ZeroDCETrainer, cfg, tmp_path / "run")
    seed_everything(0)  # the engine seeds, then builds the model: the same initial weights
    trainer = ZeroDCETrainer(cfg, None)
    initial = trainer.build_model()
    trained = trainer.build_model()
    trained.load_state_dict(model_state(result.model))
    before, after = dataset_loss(trainer, initial), dataset_loss(trainer, trained)
    assert after < 0.8 * before, (before, after)
    assert result.iteration == 20 and len(log_rows(tmp_path / "run")) == 20


def test_resume_after_a_kill_between_checkpoints_is_bit_identical(images, tmp_path, monkeypatch):
    straight = train(ZeroDCETrainer, config(images), tmp_path / "straight")

    original = ZeroDCETrainer.training_step

    def killed_at_iteration_5(self, model, batch):
        if self.context.iteration == 4:  # 0-based: iterations 1..4 done, checkpoint at 4 written
            raise KeyboardInterrupt
        return original(self, model, batch)

    monkeypatch.setattr(ZeroDCETrainer, "training_step", killed_at_iteration_5)
    with pytest.raises(KeyboardInterrupt):
        train(ZeroDCETrainer, config(images, checkpoint_every=4), tmp_path / "resumed")
    monkeypatch.setattr(ZeroDCETrainer, "training_step", original)
    assert not (tmp_path / "resumed" / "model.pt").exists()
    resumed = train(ZeroDCETrainer, config(images, checkpoint_every=4), tmp_path / "resumed", resume=True)

    a, b = model_state(straight.model), model_state(resumed.model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa = load_checkpoint(straight.checkpoint)["state"]["optimizer"]["state"]
    sb = load_checkpoint(resumed.checkpoint)["state"]["optimizer"]["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    assert log_rows(tmp_path / "straight") == log_rows(tmp_path / "resumed")


def test_existing_run_needs_resume_and_an_unchanged_config(images, tmp_path):
    out = tmp_path / "run"
    train(ZeroDCETrainer, config(images, iterations=2), out)
    with pytest.raises(TrainingError, match="--resume"):
        train(ZeroDCETrainer, config(images, iterations=4), out)
    changed = config(images, iterations=4)
    changed.optimizer["lr"] = 1e-3
    with pytest.raises(TrainingError, match="optimizer.lr"):
        train(ZeroDCETrainer, changed, out, resume=True)
    with pytest.raises(TrainingError, match="already trained"):
        train(ZeroDCETrainer, config(images, iterations=2), out, resume=True)
    assert train(ZeroDCETrainer, config(images, iterations=4), out, resume=True).iteration == 4


def test_a_torn_or_incomplete_checkpoint_is_never_picked(images, tmp_path):
    out = tmp_path / "run"
    train(ZeroDCETrainer, config(images, iterations=2), out)
    ckpts = out / "checkpoints"
    good = ckpts / "iter_0000002.pt"
    data = good.read_bytes()
    (ckpts / "iter_0000006.pt").write_bytes(data[: len(data) // 2])  # torn by a crash
    incomplete = torch.load(good, weights_only=True)
    incomplete["complete"] = False
    torch.save(incomplete, ckpts / "iter_0000004.pt")
    (ckpts / ".llebench-tmp-abc.pt").write_bytes(data[:100])  # an interrupted write
    path, state = CheckpointDir(ckpts).find_latest()
    assert path == good and state["iteration"] == 2
    result = train(ZeroDCETrainer, config(images, iterations=3), out, resume=True)
    assert result.iteration == 3 and result.checkpoint.name == "iter_0000003.pt"
    assert not (ckpts / ".llebench-tmp-abc.pt").exists()


def test_checkpoint_records_provenance_and_loads_in_llebench_run(images, tmp_path, capsys):
    result = train(ZeroDCETrainer, config(images, iterations=2), tmp_path / "run")
    ckpt = load_checkpoint(result.checkpoint)
    prov = ckpt["provenance"]
    assert ckpt["untrained"] is False and ckpt["method"] == "zero_dce"
    assert prov["data"]["images"] == 8 and len(prov["data"]["listing_sha256"]) == 64
    assert prov["config"]["optimizer"]["weight_decay"] == 1e-4 and prov["enhancer"] == "zero_dce"
    for weights in (result.model, result.checkpoint):
        out = tmp_path / f"eval_{weights.stem}"
        code = main(["run", "--methods", "zero_dce", "--weights", str(weights), "--datasets", f"folder:{images}",
                     "--metrics", "seconds", "--out", str(out), "--no-report", "--no-progress"])
        assert code == 0, capsys.readouterr()
        with open(out / "scores.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
        assert rows[0]["weights"].startswith(weights.name)


class RandomFeatureNetsTrainer(ZeroDCETrainer):
    """Stands for a trainer whose feature networks fell back to random weights."""

    @property
    def untrained(self) -> bool:
        return True


def test_untrained_checkpoints_are_flagged_and_refused_by_default(images, tmp_path, capsys):
    result = train(RandomFeatureNetsTrainer, config(images, iterations=1), tmp_path / "run")
    assert load_checkpoint(result.checkpoint)["untrained"] is True
    args = ["run", "--methods", "zero_dce", "--weights", str(result.model), "--datasets", f"folder:{images}",
            "--metrics", "seconds", "--no-report", "--no-progress", "--limit", "1"]
    assert main([*args, "--out", str(tmp_path / "refused")]) != 0
    assert "allow-untrained" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "allowed"), "--allow-untrained"]) == 0


def test_bf16_autocast_channels_last_and_ema_on_cpu(images, tmp_path):
    cfg = config(images, iterations=3, amp="bf16", channels_last=True, ema_decay=0.5, export_ema=True)
    result = train(ZeroDCETrainer, cfg, tmp_path / "run")
    ckpt = load_checkpoint(result.checkpoint)
    ema, raw = ckpt["state"]["ema"]["module"], ckpt["state"]["network"]
    assert all(torch.equal(ckpt["model"][k], ema[k]) for k in ema)
    assert any(not torch.equal(ema[k], raw[k]) for k in ema)
    assert np.isfinite(result.logs["loss"])
    with pytest.raises(RunConfigError, match="needs CUDA"):
        train(ZeroDCETrainer, config(images, amp="fp16"), tmp_path / "fp16")


def test_validation_reuses_the_runner_datasets_and_metrics(images, tmp_path):
    raw = config(images, iterations=2).to_dict()
    raw["validation"] = {"dataset": f"folder:{images}", "metrics": ["seconds"], "limit": 3, "every": 1}
    result = train(ZeroDCETrainer, TrainConfig.from_dict(raw, ZeroDCETrainer), tmp_path / "run")
    with open(tmp_path / "run" / "validation.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["iteration"] for r in rows] == ["1", "2"] and float(rows[-1]["seconds"]) > 0
    assert "seconds" in result.validation


@pytest.mark.parametrize("export_ema", [False, True])
def test_validation_scores_the_weights_model_pt_holds(images, tmp_path, monkeypatch, export_ema):
    """With an EMA kept, validation scores the EMA only when it is exported; otherwise the raw network."""
    scored = []
    original = ZeroDCETrainer.enhance

    def recording(self, model, image):
        scored.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return original(self, model, image)

    monkeypatch.setattr(ZeroDCETrainer, "enhance", recording)
    raw = config(images, iterations=3, ema_decay=0.5, export_ema=export_ema).to_dict()
    raw["validation"] = {"dataset": f"folder:{images}", "metrics": ["seconds"], "limit": 1}
    result = train(ZeroDCETrainer, TrainConfig.from_dict(raw, ZeroDCETrainer), tmp_path / "run")
    state = load_checkpoint(result.checkpoint)["state"]
    assert any(not torch.equal(state["ema"]["module"][k], v) for k, v in state["network"].items())
    exported = model_state(result.model)
    assert len(scored) == 1 and scored[0].keys() == exported.keys()
    assert all(torch.equal(scored[0][k], exported[k]) for k in exported)


REPO = Path(__file__).resolve().parents[1]
SHIPPED_CONFIGS = sorted([*(REPO / "configs" / "train").glob("*.toml"), *(REPO / "configs" / "ablation").glob("*.toml")])


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_config_loads_with_the_trainer_its_name_starts_with(path, plugins):
    """The file-name prefix picks the trainer, and each trainer's tests check its files' recipe values
    (test_zero_dce_train.py, test_scl_train.py, test_ssll.py, test_zoo_llflow.py glob by that prefix;
    test_losses.py checks contrastive_*): no file goes unchecked."""
    if path.stem.startswith("contrastive_"):  # the loss ablation (SSLL's UNet; checked in test_losses.py)
        names = ["ssll"]
    else:
        names = [name for name in plugins.names("trainers") if path.stem.startswith(name)]
    assert len(names) == 1, f"{path}: no single trainer among {plugins.names('trainers')} starts its name"
    assert names[0] in ("zero_dce", "scl_lle", "ssll", "llflow")
    assert path.parent.name == "train" or names[0] == "scl_lle", "only SCL-LLE's ablation files are globbed there"
    TrainConfig.load(path, plugins.get("trainers", names[0]))


def test_config_errors_name_the_problem():
    with pytest.raises(RunConfigError, match="unknown key train.itrations"):
        TrainConfig.from_dict({"train": {"itrations": 5}}, ZeroDCETrainer)
    with pytest.raises(RunConfigError, match=r"unknown key method.w_col"):
        TrainConfig.from_dict({"method": {"w_col": 5}}, ZeroDCETrainer)
    # values of the wrong type name the key, the value and the type expected
    with pytest.raises(RunConfigError, match=r"train.iterations = 'many': expected an integer, got str"):
        TrainConfig.from_dict({"train": {"iterations": "many"}}, ZeroDCETrainer)
    with pytest.raises(RunConfigError, match=r"train.reuse_cpu_memory = 'no': expected a boolean"):
        TrainConfig.from_dict({"train": {"reuse_cpu_memory": "no"}}, ZeroDCETrainer)
    with pytest.raises(RunConfigError, match=r"method.exposure_level = 'high': expected a number"):
        TrainConfig.from_dict({"method": {"exposure_level": "high"}}, ZeroDCETrainer)
    assert TrainConfig.from_dict({"method": {"exposure_level": 1}}, ZeroDCETrainer).method["exposure_level"] == 1
    with pytest.raises(RunConfigError, match="loss_weights"):
        ZeroDCETrainer(TrainConfig.from_dict({"method": {"loss_weights": "mine"}}, ZeroDCETrainer), None)


def test_global_batches_do_not_depend_on_the_number_of_processes():
    single = GlobalBatchSampler(10, 4, seed=3, start=0, total=6)
    halves = [GlobalBatchSampler(10, 4, seed=3, start=0, total=6, rank=r, world_size=2) for r in range(2)]
    for batch, a, b in zip(single, *halves):
        assert batch == a + b
    resumed = list(GlobalBatchSampler(10, 4, seed=3, start=4, total=6))
    assert resumed == list(single)[4:]
    assert len({i for b in list(single)[:2] for i, _ in b}) == 8  # no repeats inside an epoch
    with pytest.raises(ValueError, match="not divisible"):
        GlobalBatchSampler(8, 3, 0, 0, 1, rank=0, world_size=2)


def test_train_step_is_a_clipped_adam_step_in_the_asked_layout(images, tmp_path):
    """One TrainStep equals a hand-written step: loss, backward, clip_grad_norm_, Adam (weight decay)."""
    from llebench.training.engine import TrainStep, train_context

    for channels_last in (False, True):
        cfg = config(images, channels_last=channels_last, amp="bf16" if channels_last else "none")
        trainer = ZeroDCETrainer(cfg, train_context(cfg, torch.device("cpu"), tmp_path))
        seen = {}
        original = trainer.training_step

        def spy(model, batch, original=original, seen=seen):
            seen["autocast"] = torch.is_autocast_enabled("cpu")
            seen["batch_nhwc"] = batch.is_contiguous(memory_format=torch.channels_last)
            return original(model, batch)

        trainer.training_step = spy
        seed_everything(0)
        step = TrainStep(trainer, cfg)
        net = trainer.build_model()
        net.load_state_dict(step.model.state_dict())
        batch = torch.stack([trainer.train_dataset()[i] for i in range(4)])
        _, grad_norm = step(0, batch)
        assert seen == {"autocast": channels_last, "batch_nhwc": channels_last}
        assert step.model.e_conv2.weight.is_contiguous(memory_format=torch.channels_last) is channels_last

        adam = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=channels_last):
            loss = original(net, batch.contiguous(memory_format=torch.channels_last) if channels_last else batch).loss
        loss.backward()
        expected_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), 0.1)
        adam.step()
        assert float(grad_norm) == pytest.approx(float(expected_norm), rel=1e-4) and float(expected_norm) > 0.1
        for name, value in net.state_dict().items():
            torch.testing.assert_close(step.model.state_dict()[name], value, rtol=0, atol=1e-6, msg=name)


def test_channels_last_auto_means_cuda_only(images, tmp_path):
    from llebench.training.engine import train_context

    cfg = config(images)
    assert cfg.train["channels_last"] == "auto"
    assert train_context(cfg, torch.device("cpu"), tmp_path).channels_last is False
    assert train_context(cfg, torch.device("cuda"), tmp_path).channels_last is True
    cfg.train["channels_last"] = False
    assert train_context(cfg, torch.device("cuda"), tmp_path).channels_last is False


def test_cpu_runs_keep_freed_memory_unless_told_not_to(images, tmp_path, monkeypatch):
    import sys

    import llebench.training.engine as engine
    from llebench.cpu_memory import keep_freed_memory

    if sys.platform == "linux":
        import platform

        if platform.libc_ver()[0] == "glibc":
            assert keep_freed_memory() is True
    calls = []
    monkeypatch.setattr(engine, "keep_freed_memory", lambda: calls.append(1) or True)
    for reuse in (True, False):
        with engine.runtime_settings(config(images, reuse_cpu_memory=reuse), torch.device("cpu")):
            pass
    assert calls == [1]
