"""Comparisons that cannot mislead: coverage, what produced a row, the identity as a reference,
intervals, significance, declared protocol, the timing protocol, and the small defects."""

from __future__ import annotations

import json
import os
import re
import stat

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from llebench import stats
from llebench.cli import main
from llebench.results import RunResults, merge_runs
from llebench.store import ResultsStore
from llebench.errors import RunConfigError


def write_run(root, values: dict[str, list[float]], lower_better=True, reference=("input",), images=None, n_total=None):
    """A results directory with one dataset ``d`` and one metric ``m``: ``values[method]`` per image."""
    store = ResultsStore(root)
    count = max(len(v) for v in values.values())
    store.merge_manifest({
        "methods": {m: {"name": m, "reference": m in reference} for m in values},
        "datasets": {"d": {"name": "d", "images": n_total or count}},
        "metrics": {"m": {"name": "m", "kind": "no-reference", "lower_better": lower_better}},
    })
    for method, series in values.items():
        for index, value in enumerate(series):
            store.scores.append({"method": method, "dataset": "d", "image": (images or [f"{i:02d}" for i in
                                                                                    range(count)])[index],
                                 "metric": "m", "value": value, "status": "ok"})
    store.finish()
    store.write_summary(0)
    return RunResults.load(root)


def cells(table):
    return {table.key(i): cells[0] for i, (_, cells) in enumerate(table.rows)}


# -- intervals ------------------------------------------------------------------------------


def reference_bootstrap(values, rng, resamples):
    """A plain re-implementation: resample with replacement, mean, percentiles."""
    means = [np.mean(rng.choice(values, size=len(values), replace=True)) for _ in range(resamples)]
    return np.percentile(means, 2.5), np.percentile(means, 97.5)


def test_summary_intervals_match_a_reference_bootstrap(tmp_path):
    rng = np.random.default_rng(7)
    values = list(rng.gamma(2.0, 1.5, size=40))
    run = write_run(tmp_path / "run", {"a": values, "input": [0.0] * 40})
    row = run.summary().set_index("method").loc["a"]
    assert (row.n, row.n_total) == (40, 40)
    assert row["mean"] == pytest.approx(np.mean(values)) and row["std"] == pytest.approx(np.std(values, ddof=1))
    low, high = reference_bootstrap(np.array(values), np.random.default_rng(123), 10_000)
    standard_error = np.std(values, ddof=1) / np.sqrt(40)
    # two bootstraps with different random draws agree within Monte-Carlo error
    assert abs(row.ci_low - low) < 0.05 * standard_error * 4 and abs(row.ci_high - high) < 0.05 * standard_error * 4
    assert row.ci_low < row["mean"] < row.ci_high
    # seeded: the same numbers every time, and they do not depend on the other cells
    again = stats.summarize(run.scores[run.scores.method == "a"], {"d": 40}, seed=0).iloc[0]
    assert (again.ci_low, again.ci_high) == (row.ci_low, row.ci_high)
    other_seed = stats.summarize(run.scores[run.scores.method == "a"], {"d": 40}, seed=1).iloc[0]
    assert other_seed.ci_low != row.ci_low


def test_holm_correction_by_hand():
    adjusted = stats.holm({("a", "b"): 0.01, ("a", "c"): 0.04, ("b", "c"): 0.03})
    # sorted: 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> monotone 0.06
    assert adjusted == {("a", "b"): pytest.approx(0.03), ("b", "c"): pytest.approx(0.06),
                        ("a", "c"): pytest.approx(0.06)}


def test_best_mark_is_shared_by_methods_not_significantly_worse(tmp_path):
    from llebench.report.tables import leaderboard_table

    rng = np.random.default_rng(0)
    base = rng.uniform(3, 5, size=30)
    run = write_run(tmp_path / "run", {
        "input": list(base + 2),                       # the identity: best value of none, never marked
        "best": list(base),
        "tied": list(base + rng.normal(0, 0.02, 30)),  # indistinguishable from "best"
        "worse": list(base + 0.5 + rng.normal(0, 0.05, 30)),  # clearly worse on every image
        "worst": list(base + 1.0),
    })
    table = leaderboard_table(run)
    marks = {method: cell.rank for method, cell in cells(table).items()}
    assert marks == {"input": None, "best": 1, "tied": 1, "worse": 2, "worst": None}
    assert "not significantly different from the best" in cells(table)["tied"].note
    assert table.kinds[table.keys.index("input")] == "identity"
    html = __import__("llebench_reports.leaderboard", fromlist=["Leaderboard"]).Leaderboard().render(run)
    assert 'class="ident"' in html and "Pairwise tests" in html


def test_small_samples_are_honestly_all_tied(tmp_path):
    """Three images cannot show a difference at 5% (Wilcoxon's smallest p is 0.25): all share the best mark."""
    from llebench.report.tables import leaderboard_table

    run = write_run(tmp_path / "run", {"a": [1.0, 2.0, 3.0], "b": [1.1, 2.1, 3.1], "input": [9, 9, 9]})
    assert {m: c.rank for m, c in cells(leaderboard_table(run)).items()} == {"a": 1, "b": 1, "input": None}


def test_pairwise_csv(tmp_path, capsys):
    run = write_run(tmp_path / "run", {"a": list(range(20)), "b": [v + 1 for v in range(20)], "input": [0] * 20})
    assert main(["report", str(run.path), "--pairwise"]) == 0
    table = pd.read_csv(run.path / "pairwise.csv")
    assert list(table[["method_a", "method_b", "images"]].itertuples(index=False, name=None)) == [("a", "b", 20)]
    assert table.difference[0] == pytest.approx(-1.0) and bool(table.significant[0])
    assert "1 pairs, 1 significant" in capsys.readouterr().out


# -- coverage ---------------------------------------------------------------------------------


def make_folder(root, count=6, size=(120, 96)):
    root.mkdir(parents=True)
    rng = np.random.default_rng(len(str(root)))
    for index in range(count):
        pixels = rng.integers(0, 90, (size[1], size[0], 3), dtype=np.uint8)  # a dark, textured photo
        Image.fromarray(pixels).save(root / f"{index}.png")
    return root


def test_a_subset_shows_n_of_N_everywhere_and_is_never_compared_with_the_paper(shared_weights, tmp_path):
    data = make_folder(tmp_path / "data" / "DICM", count=5)
    out = tmp_path / "run"
    assert main(["run", "--methods", "input,zero_dce", "--datasets", "dicm", "--metrics", "seconds,niqe",
                 "--limit", "2", "--data-root", str(tmp_path / "data"), "--out", str(out), "--no-progress"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert set(zip(summary.n, summary.n_total)) == {(2, 5)}
    exports = "".join((out / f"report{suffix}").read_text() for suffix in (".csv", ".md", ".tex"))
    assert exports.count("(2/5)") >= 6 and "(2/5)" in (out / "report.html").read_text()
    assert main(["report", str(out), "--layout", "table1"]) == 0
    table1 = (out / "report_table1.html").read_text()
    assert "(2/5)" in table1 and "not compared with the paper" in table1
    del data


def test_full_coverage_compares_with_the_paper(tmp_path):
    from llebench_reports.tables import TABLE1

    run = write_run(tmp_path / "run", {"zero_dce": [3.0, 4.0], "input": [4.0, 5.0]})
    run.manifest["datasets"] = {"dicm": {**run.manifest["datasets"]["d"], "name": "dicm"}}
    run.manifest["metrics"] = {"niqe": {**run.manifest["metrics"]["m"], "name": "niqe"}}
    run.scores["dataset"], run.scores["metric"] = "dicm", "niqe"
    run._summary = None
    (run.path / "summary.csv").unlink()
    table = TABLE1.build(run)
    zero_dce = dict(table.rows)["zero_dce"]
    assert zero_dce[0].delta.startswith(("+", "-")) and zero_dce[0].full


# -- what produced a row ------------------------------------------------------------------------


def test_custom_weights_and_options_are_marked_and_change_the_variant(shared_weights, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--methods", "input,zero_dce,mine=zero_dce,half=zero_dce",
                 "--weights", f"mine={shared_weights / 'scl_lle.pth'}", "-o", "half.precision=bf16",
                 "--datasets", "sample", "--metrics", "psnr", "--limit", "1", "--out", str(out),
                 "--no-progress"]) == 0
    variants = pd.read_csv(out / "scores.csv", keep_default_na=False).groupby("method").variant.first().to_dict()
    assert variants == {"input": "", "zero_dce": "", "mine": "custom-weights", "half": "bf16"}
    html = (out / "report.html").read_text()
    assert "mine ‡" in html and "not the published file" in html
    assert "half ¶" in html and "variant bf16, precision=bf16" in html
    assert "zero_dce ‡" not in html and "zero_dce ¶" not in html


def test_untrained_checkpoints_are_marked(tmp_path):
    import torch

    from llebench_dcenet.dcenet import DCENet

    checkpoint = tmp_path / "smoke.pt"
    torch.save({"model": DCENet().state_dict(), "untrained": True}, checkpoint)
    out = tmp_path / "run"
    assert main(["run", "--methods", "zero_dce", "--weights", str(checkpoint), "--allow-untrained",
                 "--datasets", "sample", "--metrics", "psnr", "--limit", "1", "--out", str(out),
                 "--no-progress"]) == 0
    assert set(pd.read_csv(out / "scores.csv").variant) == {"custom-weights+untrained"}
    html = (out / "report.html").read_text()
    assert "zero_dce ‡§" in html and "random (untrained) feature networks" in html


# -- declared protocol ----------------------------------------------------------------------------


def test_dataset_fingerprint_is_recorded_and_changed_data_is_refused(tmp_path, capsys):
    data = make_folder(tmp_path / "photos", count=3)
    out = tmp_path / "run"
    args = ["run", "--methods", "input", "--datasets", f"folder:{data}", "--metrics", "seconds", "--out", str(out),
            "--no-progress", "--no-report"]
    assert main(args) == 0
    entry = next(iter(json.loads((out / "manifest.json").read_text())["datasets"].values()))
    assert entry["images"] == 3 and entry["fingerprint"]["files"] == 3
    listing = next((out / "fingerprints").glob("*.sha256")).read_text().splitlines()
    assert len(listing) == 3 and all(re.match(r"^[0-9a-f]{64}  \d\.png:\d\.png$", line) for line in listing), listing
    Image.new("RGB", (120, 96), (1, 2, 3)).save(data / "1.png")  # the same name, other pixels
    assert main(args) == 2
    assert "computed with different settings" in capsys.readouterr().err


def test_merged_runs_need_the_same_data_and_metric_settings(tmp_path):
    one = write_run(tmp_path / "one", {"a": [1.0, 2.0], "input": [0.0, 0.0]})
    two = write_run(tmp_path / "two", {"a": [1.5, 2.5], "b": [3.0, 4.0], "input": [0.0, 0.0]})
    merged = merge_runs([one, two], tmp_path)
    assert set(merged.scores.method) == {"a (one)", "a (two)", "b", "input (one)", "input (two)"}
    assert main(["report", str(one.path), str(two.path), "--output", str(tmp_path / "both.html")]) == 0
    assert "a (two)" in (tmp_path / "both.html").read_text()
    manifest = json.loads((two.path / "manifest.json").read_text())
    manifest["datasets"]["d"]["fingerprint"] = {"sha256": "other"}
    (two.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunConfigError, match="dataset 'd': fingerprint differ"):
        merge_runs([one, RunResults.load(two.path)], tmp_path)
    assert main(["report", str(one.path), str(two.path)]) == 2  # several runs make one page: --output


# -- timing -----------------------------------------------------------------------------------------


def test_timing_excludes_a_warm_up_call_and_a_fixed_resolution_is_available(tmp_path):
    from throwaway import ThrowawayPlugin

    from llebench.components import ComponentSpec
    from llebench.plugins import load_plugins
    from llebench.runner import Runner, RunPlan

    calls = []

    class Counting(ThrowawayPlugin):
        pass

    import throwaway

    original = throwaway.Brighten.enhance

    def counted(self, image):
        calls.append(tuple(image.shape[-2:]))
        return original(self, image)

    throwaway.Brighten.enhance = counted
    try:
        plugins = load_plugins(extra=[("throwaway", Counting())])
        plan = RunPlan(methods=[ComponentSpec.parse("brighten")], datasets=[ComponentSpec.parse("tiny")],
                       metrics=[ComponentSpec.parse("seconds"),
                                ComponentSpec("seconds_median", "fixed", options={"size": "20x10", "repeats": 2})],
                       out=tmp_path / "run", limit=1)
        Runner(plugins, plan, progress=False).run()
    finally:
        throwaway.Brighten.enhance = original
    # warm-up + the timed call on the 8x8 input, then seconds_median: 1 warm-up + 2 repeats at 10x20
    assert calls == [(8, 8), (8, 8), (10, 20), (10, 20), (10, 20)]
    outputs = pd.read_csv(tmp_path / "run" / "outputs.csv")
    assert (outputs.height[0], outputs.width[0]) == (8, 8)
    settings = json.loads((tmp_path / "run" / "manifest.json").read_text())["metrics"]["fixed"]["settings"]
    assert "20x10" in settings["input"]


# -- small defects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_limit_below_one_is_a_configuration_error(limit, tmp_path, capsys):
    assert main(["run", "--methods", "input", "--limit", limit, "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_a_run_where_every_metric_was_skipped_says_so_and_exits_1(tmp_path, capsys):
    data = make_folder(tmp_path / "photos", count=2)
    assert main(["run", "--methods", "input", "--datasets", f"folder:{data}", "--metrics", "psnr", "--out",
                 str(tmp_path / "r"), "--no-progress"]) == 1
    assert "every metric was skipped" in capsys.readouterr().out


def test_result_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        assert main(["run", "--methods", "input", "--metrics", "psnr", "--limit", "1", "--out", str(tmp_path / "r"),
                     "--no-progress"]) == 0
    finally:
        os.umask(previous)
    for name in ("scores.csv", "outputs.csv", "summary.csv", "manifest.json", "report.html", "report.md"):
        mode = stat.S_IMODE((tmp_path / "r" / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))


def test_settings_in_html_are_readable(tmp_path):
    assert main(["run", "--methods", "input", "--metrics", "niqe", "--limit", "1", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    html = (tmp_path / "r" / "report.html").read_text()
    assert "\\u0027" not in html and "\\u003e" not in html and "the arithmetic of pyiqa's niqe" in html


def test_offline_message_says_the_name_to_save_as(isolated_weights, tmp_path, capsys):
    assert main(["run", "--methods", "zero_dce", "--metrics", "psnr", "--limit", "1", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 1
    assert f"save it as {isolated_weights / 'zero_dce_epoch99.pth'}" in capsys.readouterr().out


def test_out_at_a_file_and_did_you_mean(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    assert main(["run", "--methods", "input", "--out", str(target), "--no-progress"]) == 2
    assert "is a file, not a results directory" in capsys.readouterr().err
    assert main(["run", "--methods", "scl-lle", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "did you mean 'scl_lle'" in capsys.readouterr().err
    assert main(["run", "--methods", "zerodce", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "did you mean 'zero_dce'" in capsys.readouterr().err


def test_report_of_an_ordinary_run_prints_no_skipped_layouts(tmp_path, capsys):
    assert main(["run", "--methods", "input", "--metrics", "psnr", "--limit", "1", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "r")]) == 0
    assert "skipped layout" not in capsys.readouterr().err


def test_end_of_run_prints_the_means(tmp_path, capsys):
    assert main(["run", "--methods", "input", "--metrics", "psnr", "--limit", "2", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    mean = pd.read_csv(tmp_path / "r" / "summary.csv").iloc[0]["mean"]
    assert "psnr:" in out and re.search(rf"input\s+{mean:.3f} \(2/4\)", out)
