"""Expensive metrics scored in worker processes give the same rows as in-process scoring."""

from __future__ import annotations

import os
import textwrap

import pandas as pd
import pytest

from llebench.plugins import load_plugins
from llebench.components import ComponentSpec
from llebench.runner import Runner, RunPlan
from llebench.scoring import Scorer

PLUGIN = textwrap.dedent('''
    import os
    from llebench.sdk import hookimpl
    from llebench.api import Metric

    class Contrast(Metric):
        name = "contrast"
        expensive = True
        def compute(self, output, sample, record):
            return float(output.std())

    class WhichProcess(Metric):
        name = "which_process"
        expensive = True
        def compute(self, output, sample, record):
            return float(os.getpid())

    @hookimpl
    def llebench_register_metrics(register):
        register(Contrast)
        register(WhichProcess)
''')


@pytest.fixture
def plugin_dir(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "contrast_metric.py").write_text(PLUGIN)
    return tmp_path / "plugins"


def run(plugin_dir, out, workers):
    plugins = load_plugins(plugins_dirs=[plugin_dir])
    plan = RunPlan(methods=[ComponentSpec.parse("input")], datasets=[ComponentSpec.parse("sample")],
                   metrics=[ComponentSpec.parse("contrast"), ComponentSpec.parse("which_process"),
                            ComponentSpec.parse("seconds")], out=out, workers=workers)
    assert Runner(plugins, plan, progress=False).run().ok
    return pd.read_csv(out / "scores.csv")


def test_pooled_and_inline_scores_agree(plugin_dir, tmp_path):
    inline = run(plugin_dir, tmp_path / "inline", workers=0)
    pooled = run(plugin_dir, tmp_path / "pooled", workers=1)
    assert (inline[inline.metric == "which_process"].value == os.getpid()).all()
    assert (pooled[pooled.metric == "which_process"].value != os.getpid()).all()  # really elsewhere
    contrast = [frame[frame.metric == "contrast"].value.tolist() for frame in (inline, pooled)]
    assert contrast[0] == pytest.approx(contrast[1], rel=1e-6)
    assert (pooled[pooled.metric == "seconds"].status == "ok").all()  # efficiency stays in-process


def test_worker_choice(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert Scorer.choose_workers(None, "cpu", True, 100) == 4
    assert Scorer.choose_workers(None, "cpu", True, 2) == 0  # not worth a worker's start-up
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert Scorer.choose_workers(None, "cpu", True, 100) == 0  # a worker would only compete with the enhancer
    assert Scorer.choose_workers(None, "cuda", True, 100) == 0
    assert Scorer.choose_workers(3, "cpu", False, 100) == 0  # in-process plugins cannot be re-loaded
    assert Scorer.choose_workers(2, "cpu", True, 0) == 2
