"""Parity with the official code: DCE-Net outputs and DICM NIQE (../shared/golden)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from llebench.cli import main


def run_dicm(out: Path, limit: int | None) -> pd.DataFrame:
    args = ["run", "--methods", "input,zero_dce,scl_lle", "--datasets", "dicm", "--metrics", "niqe",
            "--out", str(out), "--no-progress"]
    if limit:
        args += ["--limit", str(limit)]
    assert main(args) == 0
    return pd.read_csv(out / "scores.csv")


def compare_with_golden(scores: pd.DataFrame, golden_dir: Path) -> pd.DataFrame:
    golden = pd.read_csv(golden_dir / "dicm_niqe_reference.csv")
    merged = golden.merge(scores, on=["method", "image", "metric"], suffixes=("_golden", ""))
    assert len(merged) == len(scores)
    assert (merged["value"] - merged["value_golden"]).abs().max() < 0.01
    return merged


def test_outputs_match_official_within_one_level(shared_data, shared_weights, golden_dir, tmp_path):
    official = sorted(path for method in ("zero_dce", "scl_lle")
                      for path in (golden_dir / "official_outputs").glob(f"{method}_DICM_*.png"))
    ids = sorted({p.stem.split("_DICM_")[1] for p in official})
    # run exactly the images that have official outputs (a folder dataset of those files)
    subset = tmp_path / "data" / "DICM"
    subset.mkdir(parents=True)
    for image_id in ids:
        (subset / f"{image_id}.jpg").symlink_to(shared_data / "DICM" / f"{image_id}.jpg")
    out = tmp_path / "run"
    assert main(["run", "--methods", "zero_dce,scl_lle", "--datasets", "dicm", "--metrics", "seconds",
                 "--data-root", str(tmp_path / "data"), "--out", str(out), "--no-progress"]) == 0
    for path in official:
        method, image_id = path.stem.split("_DICM_")
        ours = np.asarray(Image.open(out / "images" / method / "dicm" / f"{image_id}.png"), dtype=int)
        theirs = np.asarray(Image.open(path), dtype=int)
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() <= 1, path.name


def test_dicm_niqe_first_images(shared_data, shared_weights, golden_dir, tmp_path):
    compare_with_golden(run_dicm(tmp_path / "run", limit=3), golden_dir)


@pytest.mark.slow
def test_dicm_niqe_all_images_and_means(shared_data, shared_weights, golden_dir, tmp_path):
    merged = compare_with_golden(run_dicm(tmp_path / "run", limit=None), golden_dir)
    assert len(merged) == 192
    means = merged.groupby("method")["value"].mean().round(3).to_dict()
    assert means == {"input": 4.254, "zero_dce": 3.734, "scl_lle": 3.719}
