"""DDP: 2 CPU processes (gloo, torchrun) give the single-process result for the same global batch."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_training import make_images

CONFIG = """
[train]
iterations = 3
batch_size = 4
checkpoint_every = 3
log_every = 1
grad_clip = 0.1
threads = 1
progress = false

[optimizer]
lr = 1e-4
weight_decay = 1e-4

[data]
root = "{root}"
image_size = 32
"""


def torchrun() -> list[str]:
    exe = Path(sys.executable).with_name("torchrun")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path):
    images = make_images(tmp_path / "images")
    config = tmp_path / "train.toml"
    config.write_text(CONFIG.format(root=images.as_posix()))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["train", "zero_dce", "--config", str(config)]
    single = subprocess.run([sys.executable, "-m", "llebench.cli", *common, "--out", str(tmp_path / "single")],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([*torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "llebench.cli", *common,
                          "--out", str(tmp_path / "ddp")], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert ddp.returncode == 0, ddp.stderr[-3000:]

    a = torch.load(tmp_path / "single" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "ddp" / "model.pt", weights_only=True)
    assert b["provenance"]["world_size"] == 2 and a["provenance"]["world_size"] == 1
    for key in a["model"]:
        torch.testing.assert_close(b["model"][key], a["model"][key], rtol=1e-4, atol=1e-6)
    rows_a, rows_b = read_log(tmp_path / "single"), read_log(tmp_path / "ddp")
    assert [r["iteration"] for r in rows_a] == [r["iteration"] for r in rows_b] == ["1", "2", "3"]
    for row_a, row_b in zip(rows_a, rows_b):
        assert list(row_a) == list(row_b)
        for key in ("loss", "tv", "spa", "col", "exp"):
            assert float(row_b[key]) == pytest.approx(float(row_a[key]), rel=1e-5), key


def read_log(run: Path) -> list[dict[str, str]]:
    with open(run / "train_log.csv", newline="") as fh:
        return list(csv.DictReader(fh))
