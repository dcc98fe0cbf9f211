"""docs/plugins.md: every example (method, dataset, metric, report, trainer, command) works as printed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from llebench.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def example(tag: str) -> tuple[str, str]:
    """(module file name, code) of the block after ``<!-- example:TAG -->``."""
    match = re.search(rf"<!-- example:{tag} -->\n```python\n# (\S+)\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/plugins.md has no example:{tag} block"
    return match.group(1), match.group(2)


@pytest.fixture
def plugin_dir(tmp_path):
    def write(tag: str) -> Path:
        directory = tmp_path / f"plugin_{tag}"
        directory.mkdir()
        name, code = example(tag)
        (directory / name).write_text(code)
        return directory
    return write


def run_scores(args: list[str], out: Path) -> pd.DataFrame:
    assert main(["run", *args, "--out", str(out), "--no-progress"]) == 0
    return pd.read_csv(out / "scores.csv")


def test_method_example(plugin_dir, tmp_path):
    scores = run_scores(["--plugins-dir", str(plugin_dir("method")), "--methods", "input,gain", "-o", "gain.gain=3",
                         "--datasets", "sample", "--metrics", "psnr"], tmp_path / "run")
    psnr = scores.groupby("method").value.mean()
    assert psnr["gain"] > psnr["input"]  # brightening a dark image brings it closer to the reference


def test_dataset_example(plugin_dir, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for side in ("low", "high"):
        (tmp_path / "data" / "night_street" / side).mkdir(parents=True)
    for name in ("a.png", "b.png"):
        high = rng.integers(60, 250, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(high).save(tmp_path / "data" / "night_street" / "high" / name)
        Image.fromarray((high // 4).astype(np.uint8)).save(tmp_path / "data" / "night_street" / "low" / name)
    directory = plugin_dir("dataset")
    assert main(["data", "check", "night_street", "--plugins-dir", str(directory),
                 "--data-root", str(tmp_path / "data"), "--no-progress"]) == 0
    assert "2 samples checked" in capsys.readouterr().out
    scores = run_scores(["--plugins-dir", str(directory), "--methods", "input", "--datasets", "night_street",
                         "--metrics", "psnr", "--data-root", str(tmp_path / "data")], tmp_path / "run")
    assert len(scores) == 2 and (scores.status == "ok").all()


def test_metric_example(plugin_dir, tmp_path):
    scores = run_scores(["--plugins-dir", str(plugin_dir("metric")), "--methods", "input", "--datasets", "sample",
                         "--metrics", "colorfulness", "--limit", "1"], tmp_path / "run")
    from llebench_datasets.sample import SampleDataset

    image = SampleDataset().load(scores.image[0]).input[0].double() * 255
    rg, yb = image[0] - image[1], 0.5 * (image[0] + image[1]) - image[2]
    expected = float((rg.std() ** 2 + yb.std() ** 2).sqrt() + 0.3 * (rg.mean() ** 2 + yb.mean() ** 2).sqrt())
    assert scores.value[0] == pytest.approx(expected, rel=1e-6)  # the example scales in float32


def test_report_example(plugin_dir, tmp_path, capsys):
    directory = plugin_dir("report")
    run_scores(["--methods", "input", "--datasets", "sample", "--metrics", "psnr", "--limit", "1", "--no-report"],
               tmp_path / "run")
    assert main(["report", str(tmp_path / "run"), "--layout", "means_only", "--plugins-dir", str(directory)]) == 0
    html = (tmp_path / "run" / "report_means_only.html").read_text()
    assert "Means" in html and "psnr" in html and (tmp_path / "run" / "report_means_only.md").exists()


def test_trainer_example(plugin_dir, tmp_path, capsys):
    photos = tmp_path / "data" / "photos"
    photos.mkdir(parents=True)
    for index in range(4):
        Image.fromarray(np.full((40, 40, 3), 30 + 10 * index, dtype=np.uint8)).save(photos / f"{index}.png")
    config = tmp_path / "gain.toml"
    config.write_text('[train]\niterations = 20\nbatch_size = 4\nprogress = false\ncheckpoint_every = 20\n'
                      '[optimizer]\nlr = 0.05\n[data]\nroot = "photos"\n')
    assert main(["train", "learned_gain", "--config", str(config), "--out", str(tmp_path / "runs" / "gain"),
                 "--plugins-dir", str(plugin_dir("trainer")), "--data-root", str(tmp_path / "data")]) == 0
    model = torch.load(tmp_path / "runs" / "gain" / "model.pt", weights_only=True)
    log = pd.read_csv(tmp_path / "runs" / "gain" / "train_log.csv")
    assert log["brightness"].iloc[-1] > log["brightness"].iloc[0] and float(model["model"]["log_gain"]) > 0


def test_loss_example(plugin_dir, tmp_path):
    photos = tmp_path / "data" / "photos"
    photos.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(4):
        Image.fromarray(rng.integers(20, 80, (40, 40, 3), dtype=np.uint8)).save(photos / f"{index}.png")
    config = tmp_path / "gain.toml"
    config.write_text('[train]\niterations = 4\nbatch_size = 4\nprogress = false\nlog_every = 1\n'
                      '[optimizer]\nlr = 0.05\n[data]\nroot = "photos"\n'
                      '[[losses]]\nname = "tv"\nweight = 0.5\npower = 2\n')
    out = tmp_path / "runs" / "gain"
    plugins = ["--plugins-dir", str(plugin_dir("trainer")), "--plugins-dir", str(plugin_dir("loss"))]
    assert main(["train", "learned_gain", "--config", str(config), "--out", str(out), *plugins,
                 "--data-root", str(tmp_path / "data")]) == 0
    log = pd.read_csv(out / "train_log.csv")
    target_term = (log["brightness"] - 0.5) ** 2
    assert (log["tv"] > 0).all() and np.allclose(log["loss"], target_term + 0.5 * log["tv"], rtol=1e-4)
    assert torch.load(out / "model.pt", weights_only=True)["provenance"]["losses"] == {
        "tv": {"name": "tv", "weight": 0.5, "power": 2.0}}
    config.write_text(config.read_text().replace("power = 2", "power = -1"))
    assert main(["train", "learned_gain", "--config", str(config), "--out", str(tmp_path / "runs" / "bad"),
                 *plugins, "--data-root", str(tmp_path / "data")]) == 2


def test_command_example(plugin_dir, capsys):
    assert main(["count", "sample", "--plugins-dir", str(plugin_dir("command"))]) == 0
    assert capsys.readouterr().out.strip() == "sample: 4 images"
