"""The README's "Write a method plugin" example, built exactly as printed, runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from llebench.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def example(tag: str) -> str:
    """The fenced code block right after ``<!-- example:TAG -->`` in the README."""
    match = re.search(rf"<!-- example:{tag} -->\n```\w*\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no example:{tag} block"
    return match.group(1)


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "llebench-gain"
    directory.mkdir()
    (directory / "llebench_gain.py").write_text(example("plugin-module"))
    (directory / "pyproject.toml").write_text(example("plugin-pyproject"))
    return directory


def test_one_file_plugin_via_plugins_dir(plugin_dir, tmp_path):
    (plugin_dir / "pyproject.toml").unlink()
    out = tmp_path / "run"
    assert main(["run", "--plugins-dir", str(plugin_dir), "--methods", "input,gain", "-o", "gain.gain=3",
                 "--datasets", "sample", "--metrics", "psnr", "--out", str(out), "--no-progress"]) == 0
    psnr = pd.read_csv(out / "scores.csv").groupby("method").value.mean()
    assert psnr["gain"] > psnr["input"]  # brightening a dark image brings it closer to the reference


@pytest.mark.slow
def test_installed_plugin_via_entry_point(plugin_dir, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(plugin_dir)], check=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    listing = subprocess.run([sys.executable, "-m", "llebench.cli", "plugins"], env=env, capture_output=True,
                             text=True)
    assert "gain 0.1.0 (entry point)" in listing.stdout and "methods: gain" in listing.stdout
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "llebench.cli", "run", "--methods", "input,gain", "--datasets",
                    "sample", "--metrics", "psnr", "--limit", "1", "--out", str(out), "--no-progress"],
                   env=env, check=True, capture_output=True)
    assert set(pd.read_csv(out / "scores.csv").method) == {"input", "gain"}
