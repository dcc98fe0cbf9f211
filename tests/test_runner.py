"""The runner and the results store: planning, failures, resume, atomic rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from throwaway import ThrowawayPlugin

from llebench.errors import RunConfigError
from llebench.plugins import load_plugins
from llebench.components import ComponentSpec
from llebench.runner import Runner, RunPlan
from llebench.results import SCORE_COLUMNS, SCORE_KEY
from llebench.store import Journal


@pytest.fixture(scope="module")
def plugin_set():
    return load_plugins(extra=[("throwaway", ThrowawayPlugin())])


def plan(out: Path, methods=("input", "brighten"), metrics=("mean_brightness", "abs_error"), **kw) -> RunPlan:
    return RunPlan(
        methods=[ComponentSpec.parse(m) for m in methods],
        datasets=[ComponentSpec.parse("tiny")],
        metrics=[ComponentSpec.parse(m) for m in metrics],
        out=out, **kw,
    )


def read_scores(out: Path) -> pd.DataFrame:
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    scores["value"] = pd.to_numeric(scores["value"], errors="coerce")
    return scores


def test_throwaway_plugins_run_and_scores_are_tidy(plugin_set, tmp_path):
    summary = Runner(plugin_set, plan(tmp_path / "run", methods=("input", "brighten")), progress=False).run()
    scores = read_scores(tmp_path / "run")
    assert list(scores.columns) == list(SCORE_COLUMNS)
    # 5 images x 2 methods x 2 metrics; image 'e' is unreadable for both methods
    assert len(scores) == 20
    ok = scores[scores.status == "ok"]
    assert len(ok) == 16
    value = ok[(ok.method == "brighten") & (ok.image == "a") & (ok.metric == "mean_brightness")].value.item()
    assert value == pytest.approx(0.4, abs=1 / 255)
    failed = scores[scores.status == "failed"]
    assert set(failed.image) == {"e"}
    assert all("/nowhere/e.png" in e for e in failed.error)
    assert not summary.ok and len(summary.failures) == 4
    # brighten's output is cached as an 8-bit PNG; input caches nothing
    assert (tmp_path / "run/images/brighten/tiny/a.png").exists()
    assert not (tmp_path / "run/images/input").exists()


def test_method_faults_are_recorded_per_image_and_the_run_goes_on(plugin_set, tmp_path):
    summary = Runner(plugin_set, plan(tmp_path / "run", methods=("faulty", "brighten"),
                                      metrics=("mean_brightness",)), progress=False).run()
    scores = read_scores(tmp_path / "run").set_index(["method", "image"])
    errors = scores.loc["faulty"].error.to_dict()
    assert "boom on purpose" in errors["b"] and "/nowhere/b.png" in errors["b"]
    assert "NaN" in errors["c"]
    assert "shape" in errors["d"]
    assert scores.loc[("faulty", "a"), "status"] == "ok"
    assert (scores.loc["brighten"].status == "ok").sum() == 4  # all but the unreadable 'e'
    text = "\n".join(summary.lines())
    assert "boom on purpose" in text and "4 failed" not in text


def test_resume_computes_only_missing_and_keeps_no_duplicates(plugin_set, tmp_path):
    out = tmp_path / "run"
    Runner(plugin_set, plan(out, methods=("brighten",)), progress=False).run()
    first = read_scores(out)
    again = Runner(plugin_set, plan(out, methods=("brighten",)), progress=False).run()
    assert again.computed == 0
    assert again.reused == 8  # 4 readable images x 2 metrics; the failures are retried
    # a new method adds only its own work
    more = Runner(plugin_set, plan(out, methods=("brighten", "input")), progress=False).run()
    assert more.computed == 8
    scores = read_scores(out)
    assert not scores.duplicated(list(SCORE_KEY)).any()
    pd.testing.assert_frame_equal(
        scores[scores.method == "brighten"].drop(columns="seconds").reset_index(drop=True),
        first.drop(columns="seconds").reset_index(drop=True),
    )


def test_changed_settings_under_the_same_name_are_refused(plugin_set, tmp_path):
    out = tmp_path / "run"
    Runner(plugin_set, plan(out, methods=("brighten",)), progress=False).run()
    changed = plan(out, methods=("brighten",))
    changed.methods[0].options["factor"] = 3.0
    with pytest.raises(RunConfigError, match="different settings"):
        Runner(plugin_set, changed, progress=False).run()


def test_full_reference_metric_is_skipped_without_reference(plugin_set, tmp_path):
    p = RunPlan(methods=[ComponentSpec.parse("input")], datasets=[ComponentSpec.parse("tiny")],
                metrics=[ComponentSpec.parse("abs_error")], out=tmp_path / "run")
    plugin_set.registry["datasets"]["tiny"].cls.kind = "no-reference"
    try:
        summary = Runner(plugin_set, p, progress=False).run()
    finally:
        plugin_set.registry["datasets"]["tiny"].cls.kind = "paired"
    assert summary.computed == 0 and any("no reference" in s for s in summary.skipped)


def test_journal_drops_a_torn_last_row(tmp_path):
    path = tmp_path / "scores.csv"
    journal = Journal(path, SCORE_COLUMNS, SCORE_KEY)
    row = dict(method="m", variant="", weights="", dataset="d", image="i", metric="x", value=1.5,
               status="ok", error="", seconds=0.1)
    journal.append(row)
    journal.append({**row, "image": "j"})
    with open(path, "ab") as fh:
        fh.write(b"m,,,d,k,x,2.")  # killed mid-write
    reloaded = Journal(path, SCORE_COLUMNS, SCORE_KEY)
    assert sorted(reloaded.rows) == [("m", "d", "i", "x"), ("m", "d", "j", "x")]
    assert path.read_bytes().endswith(b"\n")
    reloaded.append({**row, "image": "i", "value": 2.5})  # the last row for a key wins
    reloaded.compact()
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["image"], r["value"]) for r in rows] == [("i", "2.5"), ("j", "1.5")]


def test_image_ids_cannot_escape_the_results_directory(plugin_set, tmp_path):
    from llebench.store import ResultsStore

    store = ResultsStore(tmp_path / "run")
    with pytest.raises(RunConfigError):
        store.image_path("m", "d", "../../etc/passwd")
    assert store.image_path("m", "folder:/x/y", "sub/a.jpg").is_relative_to(tmp_path / "run" / "images")


def test_cpu_runs_keep_freed_memory_unless_told_not_to(plugin_set, tmp_path, monkeypatch):
    import json

    import llebench.runner as runner

    calls = []
    monkeypatch.setattr(runner, "keep_freed_memory", lambda: calls.append(1) or True)
    for index, reuse in enumerate((True, False)):
        out = tmp_path / f"run{index}"
        assert Runner(plugin_set, plan(out, reuse_cpu_memory=reuse), progress=False).run().computed > 0
        assert json.loads((out / "manifest.json").read_text())["invocations"][-1]["reuse_cpu_memory"] is reuse
    assert calls == [1]
