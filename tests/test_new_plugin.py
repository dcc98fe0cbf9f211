"""``llebench new-plugin``: the generated packages install, pass their own tests and run."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from llebench.cli import main

KINDS = ("method", "dataset", "metric", "report")


def test_generated_files_are_a_package_with_entry_point_and_test(tmp_path, capsys):
    assert main(["new-plugin", "my_gain", "--kind", "method", "--dir", str(tmp_path), "--description", "a gain"]) == 0
    root = tmp_path / "my_gain"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    assert project["project"]["entry-points"]["llebench"] == {"my_gain": "llebench_my_gain"}
    source = (root / "llebench_my_gain" / "__init__.py").read_text()
    assert "from llebench.sdk import" in source and "llebench." not in source.replace("llebench.sdk", "")
    assert (root / "tests" / "test_llebench_my_gain.py").exists() and "pip install -e" in (root / "README.md").read_text()
    compile(source, "generated", "exec")
    # the same name again, a bad name, or a name a built-in already uses are clear errors
    assert main(["new-plugin", "my_gain", "--kind", "method", "--dir", str(tmp_path)]) == 2
    assert main(["new-plugin", "My-Gain", "--kind", "method", "--dir", str(tmp_path)]) == 2
    assert main(["new-plugin", "zero_dce", "--kind", "method", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "not a valid name" in err and "already registered" in err


@pytest.mark.slow
def test_each_kind_installs_passes_its_test_and_runs(shared_weights, tmp_path):
    for kind in KINDS:
        assert main(["new-plugin", f"my_{kind}", "--kind", kind, "--dir", str(tmp_path / "src")]) == 0
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), *(str(tmp_path / "src" / f"my_{kind}") for kind in KINDS)], check=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    tests = [str(tmp_path / "src" / f"my_{kind}" / "tests") for kind in KINDS]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                            env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    listing = subprocess.run([sys.executable, "-m", "llebench", "plugins"], env=env, capture_output=True, text=True)
    assert all(f"my_{kind} 0.1.0 (entry point)" in listing.stdout for kind in KINDS), listing.stdout
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "llebench", "run", "--methods", "input,my_method", "--metrics",
                    "my_metric,psnr", "--limit", "1", "--out", str(out), "--no-progress"], env=env, check=True,
                   capture_output=True)
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores.method) == {"input", "my_method"} and set(scores.metric) == {"my_metric", "psnr"}
    report = subprocess.run([sys.executable, "-m", "llebench", "report", str(out), "--layout", "my_report"],
                            env=env, capture_output=True, text=True, check=True)
    assert Path(report.stdout.strip()).name == "report_my_report.html"
