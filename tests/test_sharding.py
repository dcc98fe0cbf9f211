"""Sharded evaluation: ``torchrun --nproc-per-node 2 -m llebench run`` on CPU over gloo.

Every test compares against one uninterrupted single-process run of the same command:
value for value, every row and every status (a corrupt image fails in both), every
cached output byte for byte. The method is ``counted`` (tests/sharding_plugins), which
logs each enhancement, so "computed exactly once" is checked from the log, not assumed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from llebench.results import OUTPUT_KEY, SCORE_COLUMNS, SCORE_KEY, RunResults
from llebench.sharding import ProgressBoard, Unit, assign_units
from llebench.stats import summarize
from llebench.store import Journal, shard_path

HELPERS = Path(__file__).parent / "sharding_plugins"
IMAGES = 14
METHODS = "counted,input,gamma"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shard-data")
    rng = np.random.default_rng(3)
    for index in range(IMAGES):
        Image.fromarray(rng.integers(0, 256, (20 + index, 28, 3), dtype=np.uint8)).save(folder / f"im{index:02d}.png")
    (folder / "im99.png").write_bytes(b"not a png")  # fails on every rank that owns it, with its path
    return folder


def arguments(data: Path, out: Path) -> list[str]:
    return ["-m", "llebench", "run", "--plugins-dir", str(HELPERS), "--methods", METHODS,
            "--datasets", f"folder:{data}", "--metrics", "mean", "--out", str(out), "--no-report", "--no-progress"]


def single(data: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *arguments(data, out)], capture_output=True, text=True,
                          env={**os.environ, **env})


def sharded(data: Path, out: Path, ranks: int = 2, **env: str) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
    return subprocess.run([*launcher, *arguments(data, out)[1:]], capture_output=True, text=True,
                          env={**os.environ, **env})


def table(out: Path, name: str, key: tuple[str, ...]) -> pd.DataFrame:
    found = pd.read_csv(out / name, keep_default_na=False, dtype=str)
    assert not found.duplicated(list(key)).any()
    return found.drop(columns="seconds").sort_values(list(key)).reset_index(drop=True)


def images(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "images").rglob("*.png"))}


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shard-ref") / "run"
    done = single(data, out)
    assert done.returncode == 1, done.stderr  # the corrupt image failed, the rest was scored
    return out


def assert_same(out: Path, reference: Path) -> None:
    pd.testing.assert_frame_equal(table(out, "scores.csv", SCORE_KEY), table(reference, "scores.csv", SCORE_KEY))
    pd.testing.assert_frame_equal(table(out, "outputs.csv", OUTPUT_KEY), table(reference, "outputs.csv", OUTPUT_KEY))
    assert images(out) == images(reference)
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), pd.read_csv(reference / "summary.csv"))
    leftovers = [p.name for p in out.iterdir() if ".rank" in p.name or p.name.startswith(".llebench-progress")]
    assert not leftovers, leftovers


def enhancements(log: Path) -> Counter:
    """How often each image was enhanced by ``counted``, over every launch."""
    return Counter(line.split()[1] for line in log.read_text().splitlines())


def test_assignment_deals_each_missing_unit_once_and_mixes_methods():
    missing = [("d", f"i{p}", p, ["a", "b"]) for p in range(6)]
    owners = assign_units(missing, 2)
    assert len(owners) == 12 and sorted(Counter(owners.values()).values()) == [6, 6]
    for rank in (0, 1):  # each rank gets both methods, not one method each
        assert Counter(u.method for u, r in owners.items() if r == rank) == {"a": 3, "b": 3}
    # only rank 1's half left (a killed rank): shared by both ranks again, not left to one
    left = [(d, i, p, [m for m in methods if owners[Unit(d, i, m)] == 1]) for d, i, p, methods in missing]
    assert sorted(Counter(assign_units(left, 2).values()).values()) == [3, 3]


def test_rank_journals_are_read_mid_job_and_folded_in_by_the_next_first_writer(tmp_path):
    path = tmp_path / "scores.csv"
    row = {"method": "m", "dataset": "d", "metric": "x", "status": "ok"}
    Journal(path, SCORE_COLUMNS, SCORE_KEY).append({**row, "image": "a", "value": 1})
    Journal(path, SCORE_COLUMNS, SCORE_KEY, shard=1).append({**row, "image": "b", "value": 2})
    with open(shard_path(path, 1), "a") as fh:
        fh.write("m,,,d,c,x,3")  # a torn last line of a killed rank
    (tmp_path / "manifest.json").write_text("{}")
    assert sorted(RunResults.load(tmp_path).scores["image"]) == ["a", "b"]  # a reader sees both, mid-job
    rank1 = Journal(path, SCORE_COLUMNS, SCORE_KEY, shard=1)  # another rank: reads all, folds nothing
    assert len(rank1.rows) == 2 and shard_path(path, 1).exists()
    first = Journal(path, SCORE_COLUMNS, SCORE_KEY, shard=0)  # rank 0 (or a single process) folds them in
    assert len(first.rows) == 2 and not shard_path(path, 1).exists()
    assert path.read_text().count("\n") == 3  # header + a + b; the torn line is gone


def test_progress_board_adds_up_the_other_ranks(tmp_path):
    boards = [ProgressBoard(tmp_path, rank, 3, interval=0) for rank in range(3)]
    boards[1].publish(5)
    boards[2].publish(7)
    boards[0].publish(100)  # rank 0 counts itself, it writes no file
    assert boards[0].others() == 12
    boards[0].clear()
    assert boards[0].others() == 0 and not list(tmp_path.iterdir())


def test_summary_does_not_depend_on_the_order_rows_were_written():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"method": "m", "dataset": "d", "metric": "x", "status": "ok",
                           "image": [f"i{k:02d}" for k in range(40)], "value": rng.random(40)})
    shuffled = scores.sample(frac=1, random_state=1)
    pd.testing.assert_frame_equal(summarize(scores, {"d": 40}), summarize(shuffled, {"d": 40}))


def test_two_ranks_equal_one_process_and_compute_each_unit_once(data, reference, tmp_path):
    log = tmp_path / "calls.log"
    done = sharded(data, tmp_path / "run", SHARDING_TEST_LOG=str(log))
    assert done.returncode != 0 and "exitcode  : 1" in done.stderr, done.stderr  # as the single process: 1
    assert_same(tmp_path / "run", reference)
    counts = enhancements(log)
    assert len(counts) == IMAGES and set(counts.values()) == {1}
    assert {line.split()[0] for line in log.read_text().splitlines()} == {"0", "1"}  # both ranks worked
    printed = done.stdout
    assert printed.count("results:") == 1  # one summary, from rank 0, covering both ranks
    assert f"scores: {IMAGES * 3} computed, 0 already present, 3 failed" in printed  # the corrupt image, per method


@pytest.mark.slow
def test_killed_rank_relaunched_with_two_or_one_ranks_equals_one_process(data, reference, tmp_path):
    for relaunch_ranks in (2, 1):
        out, log = tmp_path / f"run{relaunch_ranks}", tmp_path / f"calls{relaunch_ranks}.log"
        killed = sharded(data, out, SHARDING_TEST_LOG=str(log), SHARDING_TEST_KILL="1:4", SHARDING_TEST_DELAY="0.05")
        assert killed.returncode != 0 and "SIGKILL" in killed.stderr, killed.stderr
        assert not (out / "summary.csv").exists()  # it really stopped midway
        assert len(enhancements(log)) < IMAGES
        if relaunch_ranks == 2:
            again = sharded(data, out, SHARDING_TEST_LOG=str(log))
        else:
            again = single(data, out, SHARDING_TEST_LOG=str(log))
        assert again.returncode in (1, 2) or "exitcode  : 1" in again.stderr, again.stderr
        assert_same(out, reference)
        counts = enhancements(log)
        assert len(counts) == IMAGES and set(counts.values()) == {1}, counts  # nothing computed twice


@pytest.mark.slow
def test_a_second_job_on_the_same_directory_is_refused(data, reference, tmp_path):
    out, gate = tmp_path / "run", tmp_path / "gate"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    first = subprocess.Popen([*launcher, *arguments(data, out)[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "SHARDING_TEST_GATE": str(gate)})
    deadline = time.monotonic() + 120
    while not (out / "manifest.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the first job holds the lock, and its counted method waits at the gate
    second = sharded(data, out)
    gate.touch()
    first.communicate(timeout=300)
    assert second.returncode != 0
    assert second.stderr.count("is being written by another llebench process") == 1, second.stderr  # rank 0 says it
    assert_same(out, reference)  # the first job, untouched by the second
