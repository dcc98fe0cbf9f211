"""``llebench run`` SIGKILLed at random moments, several times, then finished: same results.

The methods come from tests/reliability_plugins (``sleepy`` sleeps a little per image), so
the kills land mid-run without heavy models. The seed is printed in every failure message.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from llebench.results import SCORE_COLUMNS, SCORE_KEY

HELPERS = Path(__file__).parent / "reliability_plugins"
KILLS = 6
IMAGES = 200


def command(data: Path, out: Path, report: bool = False) -> list[str]:
    return [sys.executable, "-m", "llebench", "run", "--plugins-dir", str(HELPERS),
            "--methods", "sleepy,oom_above", "-o", "sleepy.delay=0.03", "--datasets", f"folder:{data}",
            "--metrics", "mean", "--out", str(out), "--no-progress", *([] if report else ["--no-report"])]


def temporaries(out: Path) -> list[str]:
    """llebench's temporary .csv files in the run directory (a journal being compacted)."""
    return [name for name in os.listdir(out) if name.startswith(".llebench-tmp-") and name.endswith(".csv")]


def newer(path: Path, than: float) -> bool:
    """``path`` exists and was written at or after the wall time ``than``."""
    try:
        return path.stat().st_mtime >= than
    except FileNotFoundError:
        return False


def rows(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def check_journal(path: Path) -> None:
    """Every complete line is a whole row (a torn last line is allowed: the next run drops it)."""
    if not path.exists():
        return
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1].decode("utf-8")
    for values in list(csv.reader(complete.splitlines()))[1:]:
        assert len(values) == len(SCORE_COLUMNS), values


def final_scores(out: Path) -> pd.DataFrame:
    text = (out / "scores.csv").read_text("utf-8")
    assert text.endswith("\n")
    parsed = list(csv.reader(text.splitlines()))
    assert tuple(parsed[0]) == SCORE_COLUMNS and all(len(r) == len(SCORE_COLUMNS) for r in parsed[1:])
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False, dtype=str)
    assert not scores.duplicated(list(SCORE_KEY)).any()
    return scores.drop(columns="seconds").sort_values(list(SCORE_KEY)).reset_index(drop=True)


def outputs(out: Path) -> dict[str, bytes]:
    images = out / "images"
    return {str(p.relative_to(images)): p.read_bytes() for p in sorted(images.rglob("*.png"))
            if not p.name.startswith(".")}


@pytest.mark.slow
def test_random_kills_then_resume_equal_an_uninterrupted_run(tmp_path):
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    data = tmp_path / "data"
    data.mkdir()
    for index in range(IMAGES):
        Image.new("RGB", (32, 24), (index, 2 * index % 256, 40)).save(data / f"img {index:03d}.png")

    reference = tmp_path / "uninterrupted"
    subprocess.run(command(data, reference), check=True, capture_output=True)
    expected = final_scores(reference)
    assert len(expected) == 2 * IMAGES and (expected.status == "ok").all()

    out = tmp_path / "killed"
    kills, mid_run, startup = 0, 0, 1.0
    for attempt in range(KILLS):
        before = rows(out / "scores.csv")
        started = time.monotonic()
        process = subprocess.Popen(command(data, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if attempt % 2 == 0:  # a random moment once rows are being written
            while rows(out / "scores.csv") <= before and process.poll() is None and time.monotonic() < started + 60:
                time.sleep(0.01)
            startup = time.monotonic() - started
            time.sleep(rng.uniform(0, 0.4))
        else:  # a random moment from start-up (imports, manifest) to just past the first rows
            time.sleep(rng.uniform(0.1, 1.2 * startup))
        if process.poll() is not None:
            continue  # finished before the kill: nothing left to interrupt this time
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        mid_run += rows(out / "scores.csv") > before
        check_journal(out / "scores.csv")
    assert kills >= 4 and mid_run >= 3, f"seed {seed}: {kills} kills, {mid_run} mid-run"

    # then once every row is written: a kill inside the compaction of the journal, and one while
    # the report pages are written (each tried until it lands there; where it landed is checked)
    landed = []
    for phase in ("compaction", "report") * 3:
        if phase in landed:
            continue
        started = time.time()
        process = subprocess.Popen(command(data, out, report=True), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        if phase == "compaction":  # every row journaled, the first .csv temporary is the compacted journal's
            while process.poll() is None and not (rows(out / "scores.csv") > len(expected) and temporaries(out)):
                time.sleep(0.0005)
            inside = process.poll() is None and bool(temporaries(out))
        else:  # summary.csv is written after compaction and before the pages
            while process.poll() is None and not newer(out / "summary.csv", started):
                time.sleep(0.005)
            time.sleep(rng.uniform(0.02, 0.4))
            inside = process.poll() is None and not newer(out / "report.html", started)
        if process.poll() is not None:
            continue
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        landed += [phase] if inside else []
        check_journal(out / "scores.csv")
    assert landed == ["compaction", "report"], f"seed {seed}: kills landed in {landed}"
    assert kills >= 6, f"seed {seed}: {kills} kills"

    subprocess.run(command(data, out, report=True), check=True, capture_output=True)
    pd.testing.assert_frame_equal(final_scores(out), expected, obj=f"scores (seed {seed})")
    assert outputs(out) == outputs(reference), f"seed {seed}"
    assert not list(out.rglob(".llebench-tmp-*")), f"seed {seed}: stray temporaries"
    assert (out / "report.html").exists() and (out / "summary.csv").exists()

TRAIN_ITERATIONS = 150
TRAIN_CONFIG = """
[train]
iterations = {iterations}
batch_size = 2
checkpoint_every = 3
keep_checkpoints = 2
log_every = 1
progress = false
threads = 1

[optimizer]
lr = 1e-4
weight_decay = 1e-4

[data]
root = "{root}"
image_size = 32
"""


def train_command(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "llebench.cli", "train", "zero_dce", "--config", str(config),
            "--out", str(out), *extra]


@pytest.mark.slow
def test_training_killed_between_checkpoints_resumes_from_the_last_complete_one(tmp_path):
    """SIGKILL after the first checkpoint, at a random moment; --resume ends where a straight run does."""
    import torch

    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    images = tmp_path / "images"
    images.mkdir()
    for index in range(6):
        Image.new("RGB", (32, 32), (10 + 7 * index, 20, 30 + 5 * index)).save(images / f"{index}.png")
    config = tmp_path / "train.toml"
    # enough iterations that a kill up to 0.5 s after the first checkpoint lands mid-run
    config.write_text(TRAIN_CONFIG.format(iterations=TRAIN_ITERATIONS, root=images))

    straight = tmp_path / "straight"
    subprocess.run(train_command(config, straight), check=True, capture_output=True)

    out = tmp_path / "killed"
    process = subprocess.Popen(train_command(config, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "checkpoints" / "iter_0000003.pt"
    deadline = time.monotonic() + 120
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.5))
    assert process.poll() is None, f"seed {seed}: training finished before the kill"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "model.pt").exists()
    done = sorted(p.name for p in (out / "checkpoints").glob("iter_*.pt"))

    resumed = subprocess.run(train_command(config, out, "--resume"), check=True, capture_output=True, text=True)
    assert f"trained zero_dce to iteration {TRAIN_ITERATIONS}" in resumed.stdout, f"seed {seed}: {resumed.stdout}{resumed.stderr}"
    a = torch.load(straight / "model.pt", weights_only=True)["model"]
    b = torch.load(out / "model.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"seed {seed}, killed after {done}"
