"""SSLL end to end on tiny generated data: stage 1 -> stage 2 -> `llebench run` -> ssll_delta report."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llebench.cli import main
from llebench.errors import LLEBenchError, RunConfigError
from llebench.results import RunResults
from llebench.training import TrainConfig, TrainContext, train
from llebench_ssll.enhancer import SSLL
from llebench_ssll.report import SSLLDelta
from llebench_ssll.trainer import SSLLTrainer

#: trains three tiny models and runs the benchmark twice (~1 min on a busy 2-core machine)
pytestmark = pytest.mark.slow


def make_data(root: Path) -> Path:
    """paired/low, paired/high (same stems) and unpaired/ — 40x40 textured images."""
    rng = np.random.default_rng(7)
    for sub in ("paired/low", "paired/high", "unpaired"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(4):
        high = rng.uniform(0.2, 0.9, size=(40, 40, 3))
        Image.fromarray(np.uint8(high * 255)).save(root / "paired/high" / f"p{i}.png")
        Image.fromarray(np.uint8(high**2.2 * 0.4 * 255)).save(root / "paired/low" / f"p{i}.png")
        Image.fromarray(np.uint8(rng.uniform(0.0, 0.2, size=(44, 48, 3)) * 255)).save(root / "unpaired" / f"u{i}.png")
    return root


def raw_config(root: Path, stage: str, init: str = "", iterations: int = 3) -> dict:
    return {
        "train": {"iterations": iterations, "batch_size": 2, "ema_decay": 0.99, "checkpoint_every": 2,
                  "log_every": 1, "progress": False, "threads": 1},
        "optimizer": {"name": "adamw", "lr": 2e-4},
        "scheduler": {"name": "cosine", "min_lr": 1e-6},
        "data": {"paired_low": str(root / "paired/low"), "paired_high": str(root / "paired/high"),
                 "unpaired": [str(root / "unpaired")] if stage == "semi" else [], "crop_size": 32},
        "method": {"stage": stage, "init": init, "backbone_options": {"width": 2}, "sup_loss": "ssim+l1"},
    }


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = make_data(tmp_path_factory.mktemp("ssll_data"))
    runs = tmp_path_factory.mktemp("ssll_runs")
    stage1 = train(SSLLTrainer, TrainConfig.from_dict(raw_config(root, "supervised"), SSLLTrainer), runs / "stage1")
    semi_cfg = TrainConfig.from_dict(raw_config(root, "semi", str(stage1.model)), SSLLTrainer)
    semi = train(SSLLTrainer, semi_cfg, runs / "semi")
    base_cfg = TrainConfig.from_dict(raw_config(root, "supervised", str(stage1.model)), SSLLTrainer)
    baseline = train(SSLLTrainer, base_cfg, runs / "baseline")
    return {"root": root, "stage1": runs / "stage1", "semi": runs / "semi", "baseline": runs / "baseline",
            "semi_model": semi.model, "baseline_model": baseline.model}


def test_stage1_logs_supervised_terms_and_ema_warmup(trained):
    log = rows(trained["stage1"] / "train_log.csv")
    assert [float(r["ema_decay"]) for r in log] == pytest.approx([0.0, 0.5, 2 / 3])
    assert {"ssim", "l1", "loss"} <= set(log[0])


def test_stage2_starts_from_stage1_and_continues_the_clocks(trained):
    stage1 = torch.load(trained["stage1"] / "model.pt", weights_only=True)
    first = torch.load(trained["semi"] / "checkpoints" / "iter_0000002.pt", weights_only=True)
    assert first["provenance"]["config"]["method"]["init"].endswith("model.pt")
    log = rows(trained["semi"] / "train_log.csv")
    # EMA decay and ramp continue from stage 1's 3 steps: t = 3, 4, 5 of R = 3 + 3
    assert [float(r["ema_decay"]) for r in log] == pytest.approx([0.75, 0.8, 5 / 6])
    assert [float(r["ramp"]) for r in log] == pytest.approx(
        [np.exp(-5 * (1 - t / 6) ** 2) for t in (3, 4, 5)], rel=1e-5)
    assert [float(r["cutmix_mu"]) for r in log] == pytest.approx([1.0, 2 / 3, 1 / 3])
    for key in ("ctr_p", "con", "ctr_u", "paired_area"):
        assert all(np.isfinite(float(r[key])) for r in log)
    assert stage1["iteration"] == 3
    # the student moved away from stage 1's weights
    semi = torch.load(trained["semi_model"], weights_only=True)["model"]
    assert any(not torch.equal(semi[k], v) for k, v in stage1["model"].items())


def test_semi_total_loss_is_the_documented_sum(trained, monkeypatch):
    cfg = TrainConfig.from_dict(raw_config(trained["root"], "semi", str(trained["stage1"] / "model.pt")), SSLLTrainer)
    context = TrainContext(device=torch.device("cpu"), out=trained["root"])
    trainer = SSLLTrainer(cfg, context)
    from llebench.training.ema import EMA

    model = trainer.build_model()
    context.ema = EMA(model, 0.99)
    g = torch.Generator().manual_seed(0)
    dataset = trainer.train_dataset()
    items = [dataset.get(i, g) for i in range(2)]
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    out = trainer.training_step(model, batch)
    logs = {k: float(torch.as_tensor(v).detach()) for k, v in out.logs.items()}
    expected = logs["sup"] + 0.1 * logs["ctr_p"] + logs["ramp"] * (logs["con"] + 0.1 * logs["ctr_u"])
    assert float(out.loss) == pytest.approx(expected, rel=1e-5)


def test_trainer_config_errors():
    def make(**method):
        raw = {"train": {"ema_decay": 0.99}, "method": method}
        return SSLLTrainer(TrainConfig.from_dict(raw, SSLLTrainer), TrainContext(device=torch.device("cpu"), out=Path(".")))

    with pytest.raises(RunConfigError, match="stage"):
        make(stage="both")
    with pytest.raises(RunConfigError, match="init"):
        make(stage="semi")
    with pytest.raises(RunConfigError, match="sup_loss"):
        make(sup_loss="ssim+mse")
    with pytest.raises(RunConfigError, match="ema_decay"):
        SSLLTrainer(TrainConfig.from_dict({}, SSLLTrainer), TrainContext(device=torch.device("cpu"), out=Path(".")))


def test_enhancer_rebuilds_backbone_from_checkpoint(trained):
    enhancer = SSLL(weights=str(trained["semi_model"]))
    assert enhancer.settings()["backbone_options"] == {"width": 2}
    assert enhancer.settings()["stage"] == "semi" and enhancer.settings()["sup_loss"] == "ssim+l1"
    out = enhancer.enhance(torch.rand(1, 3, 23, 31))
    assert out.shape == (1, 3, 23, 31) and float(out.min()) >= 0 and float(out.max()) <= 1
    with pytest.raises(LLEBenchError, match="--weights"):
        SSLL()
    bare = trained["root"] / "bare.pth"
    torch.save(torch.load(trained["semi_model"], weights_only=True)["model"], bare)
    with pytest.raises(LLEBenchError, match="does not fit"):
        SSLL(weights=str(bare))  # a bare state_dict needs the width
    assert SSLL(weights=str(bare), width=2).settings()["stage"] == "unknown"


def test_enhancer_can_evaluate_the_mean_teacher(trained):
    checkpoint = trained["semi"] / "checkpoints" / "iter_0000003.pt"
    teacher = SSLL(weights=str(checkpoint), teacher=True)
    assert teacher.settings()["network"] == "teacher (EMA)" and teacher.settings()["stage"] == "semi"
    ema = torch.load(checkpoint, weights_only=True)["state"]["ema"]["module"]
    assert all(torch.equal(teacher.net.state_dict()[k], v) for k, v in ema.items())
    with pytest.raises(LLEBenchError, match="no mean-teacher"):
        SSLL(weights=str(trained["semi_model"]), teacher=True)


def test_llebench_run_and_ssll_delta_report(trained, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(
        "methods = [\n"
        f"  {{ name = \"ssll\", label = \"baseline\", weights = \"{trained['baseline_model']}\" }},\n"
        f"  {{ name = \"ssll\", label = \"ssll\", weights = \"{trained['semi_model']}\" }},\n"
        "]\n"
        "datasets = [\"sample\"]\nmetrics = [\"psnr\"]\nlimit = 1\n"
    )
    out = tmp_path / "results"
    assert main(["run", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    assert main(["report", str(out), "--layout", "ssll_delta"]) == 0
    html = (out / "report_ssll_delta.html").read_text()
    run = RunResults.load(out)
    psnr = run.scores.set_index("method")["value"]
    delta = psnr["ssll"] - psnr["baseline"]
    assert "Δ ssll − baseline" in html
    text = f"{delta:.3f}"
    assert (text if delta < 0 else f"+{text}") in html
    assert "sup_loss ssim+l1" in html


def test_delta_report_needs_both_kinds(trained, tmp_path):
    out = tmp_path / "results"
    assert main(["run", "--methods", "ssll", "--weights", str(trained["semi_model"]), "--datasets", "sample",
                 "--metrics", "psnr", "--limit", "1", "--out", str(out), "--no-progress"]) == 0
    with pytest.raises(LLEBenchError, match="at least one baseline"):
        SSLLDelta().render(RunResults.load(out))


def test_cli_train_then_llebench_run_with_its_model(tmp_path, capsys):
    """``llebench train ssll --config FILE`` writes a model.pt that ``llebench run --methods ssll`` evaluates."""
    root = make_data(tmp_path / "data")
    config = tmp_path / "tiny.toml"
    config.write_text(
        "[train]\niterations = 2\nbatch_size = 2\nema_decay = 0.99\ncheckpoint_every = 2\nprogress = false\n"
        "threads = 1\n\n[optimizer]\nname = \"adamw\"\nlr = 2e-4\n\n"
        "[data]\npaired_low = \"paired/low\"\npaired_high = \"paired/high\"\ncrop_size = 32\n\n"
        "[method]\nstage = \"supervised\"\nbackbone_options = { width = 2 }\nsup_loss = \"ssim+l1\"\n")
    out = tmp_path / "run"
    code = main(["train", "ssll", "--config", str(config), "--out", str(out), "--data-root", str(root)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"llebench run --methods ssll --weights {out / 'model.pt'}" in printed
    model = torch.load(out / "model.pt", weights_only=True)
    assert model["method"] == "ssll" and model["iteration"] == 2 and model["provenance"]["data"]["pairs"] == 4

    results = tmp_path / "results"
    code = main(["run", "--methods", "ssll", "--weights", str(out / "model.pt"), "--datasets",
                 f"folder:{root / 'unpaired'}", "--metrics", "seconds", "--out", str(results),
                 "--no-report", "--no-progress"])
    assert code == 0, capsys.readouterr().out
    scores = rows(results / "scores.csv")
    assert len(scores) == 4 and {r["status"] for r in scores} == {"ok"} and {r["method"] for r in scores} == {"ssll"}
    assert scores[0]["weights"].startswith("model.pt")



def test_stage2_resume_is_bit_identical_with_ema_cosine_and_cutmix(trained, tmp_path, monkeypatch):
    """Teacher (EMA), learning-rate schedule, CutMix boxes and crops all continue exactly after a kill."""
    config = TrainConfig.from_dict(raw_config(trained["root"], "semi", str(trained["stage1"] / "model.pt"),
                                              iterations=5), SSLLTrainer)
    straight = train(SSLLTrainer, config, tmp_path / "straight")
    original = SSLLTrainer.training_step

    def killed(self, model, batch):
        if self.context.iteration == 3:  # checkpoints at iterations 2 and 4: resume from 2
            raise KeyboardInterrupt
        return original(self, model, batch)

    monkeypatch.setattr(SSLLTrainer, "training_step", killed)
    with pytest.raises(KeyboardInterrupt):
        train(SSLLTrainer, config, tmp_path / "resumed")
    monkeypatch.setattr(SSLLTrainer, "training_step", original)
    resumed = train(SSLLTrainer, config, tmp_path / "resumed", resume=True)
    a = torch.load(straight.checkpoint, map_location="cpu", weights_only=True)
    b = torch.load(resumed.checkpoint, map_location="cpu", weights_only=True)
    for part in ("network", "ema"):
        x, y = a["state"][part], b["state"][part]
        x, y = (x.get("module", x), y.get("module", y))
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), part
    assert a["state"]["scheduler"] == b["state"]["scheduler"]
    strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in rows(tmp_path / run / "train_log.csv")]
             for run in ("straight", "resumed")]
    assert strip[0] == strip[1]
