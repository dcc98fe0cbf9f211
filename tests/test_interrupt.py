"""A run killed with SIGKILL and started again equals an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from llebench.results import SCORE_KEY

COMMAND = ["--methods", "input,zero_dce,scl_lle", "--datasets", "sample", "--metrics", "psnr,ssim",
           "--no-progress", "--no-report"]


def llebench(out: Path) -> list[str]:
    return [sys.executable, "-m", "llebench.cli", "run", *COMMAND, "--out", str(out)]


def comparable(out: Path) -> pd.DataFrame:
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert not scores.duplicated(list(SCORE_KEY)).any()
    return scores.drop(columns="seconds").sort_values(list(SCORE_KEY)).reset_index(drop=True)


def rows(path: Path) -> int:
    return path.read_bytes().count(b"\n") - 1 if path.exists() else 0


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_scores(shared_weights, tmp_path):
    reference = tmp_path / "uninterrupted"
    subprocess.run(llebench(reference), check=True, capture_output=True)
    expected = comparable(reference)

    out = tmp_path / "killed"
    process = subprocess.Popen(llebench(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while rows(out / "scores.csv") < len(expected) // 2 and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the run finished before it could be killed")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < rows(out / "scores.csv") < len(expected)

    subprocess.run(llebench(out), check=True, capture_output=True)
    pd.testing.assert_frame_equal(comparable(out), expected)
