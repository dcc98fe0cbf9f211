"""Comparisons that cannot mislead: coverage, what produced a row, the identity as a reference,
intervals, significance, declared protocol, the timing protocol, and the small defects."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from llebench import stats
from llebench.cli import main
from llebench.results import RunResults, merge_runs
from llebench.store import ResultsStore
from llebench.errors import RunConfigError
from llebench.report.tables import SIGNIFICANCE_NOTE, UNCOMPARED_MARK


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
    make_folder(tmp_path / "data" / "DICM", count=5)
    out = tmp_path / "run"
    assert main(["run", "--methods", "input,zero_dce", "--datasets", "dicm", "--metrics", "seconds,niqe",
                 "--limit", "2", "--data-root", str(tmp_path / "data"), "--out", str(out), "--no-progress"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    # N is DICM's published size (64), not the 5 images of this copy
    assert set(zip(summary.n, summary.n_total)) == {(2, 64)}
    for suffix in (".csv", ".md", ".tex", ".html"):  # 2 methods x 2 metrics, in every format
        assert (out / f"report{suffix}").read_text().count("(2/64)") >= 4, suffix
    assert main(["report", str(out), "--layout", "table1"]) == 0
    table1 = (out / "report_table1.html").read_text()
    assert "(2/64)" in table1 and "not compared with the paper" in table1


def test_a_local_copy_smaller_than_the_published_dataset_is_a_subset_in_every_export(shared_weights, tmp_path):
    """All 5 images of a 5-image DICM folder are scored: still 5 of DICM's 64, never compared with
    the paper, and each export says so where the page would on hover."""
    from llebench.report.exports import EXPORT_INTERVALS
    from llebench.report.tables import HOVER_SENTENCE, UNCOMPARED_NOTE

    make_folder(tmp_path / "data" / "DICM", count=5)
    out = tmp_path / "run"
    assert main(["run", "--methods", "input,zero_dce", "--datasets", "dicm", "--metrics", "niqe",
                 "--data-root", str(tmp_path / "data"), "--out", str(out), "--no-progress", "--no-report"]) == 0
    assert main(["report", str(out), "--layout", "table1"]) == 0
    entry = json.loads((out / "manifest.json").read_text())["datasets"]["dicm"]
    assert (entry["images"], entry["published_images"]) == (5, 64)
    csv_lines = (out / "report_table1.csv").read_text().splitlines()
    zero_dce = [line.split(",") for line in csv_lines if line.startswith("zero_dce,")]
    kinds = [row[1] for row in zero_dce]
    assert kinds == ["measured", "95% CI", "difference"], kinds
    assert "(5/64)" in zero_dce[0][2] and re.fullmatch(r'"?\[\d\.\d+', zero_dce[1][2]) is None  # quoted [a, b]
    assert "not compared" in zero_dce[2] and not any(v.startswith(("+", "-")) for v in zero_dce[2][2:])
    for suffix in (".md", ".tex"):
        text = (out / f"report_table1{suffix}").read_text()
        assert "(5/64)" in text and HOVER_SENTENCE not in text and "summary.csv" in text, suffix
    md = (out / "report_table1.md").read_text()
    assert "°" in md and UNCOMPARED_NOTE.split(":")[0].lstrip("° ") in md and EXPORT_INTERVALS.split(":")[0] in md
    html = (out / "report_table1.html").read_text()
    assert HOVER_SENTENCE in html and "°" in html


def test_full_coverage_compares_with_the_paper(tmp_path):
    from llebench_reports.tables import TABLE1

    run = as_paper_run(write_run(tmp_path / "run", {"zero_dce": [3.0, 4.0], "input": [4.0, 5.0]}), "dicm", "niqe")
    table = TABLE1.build(run)
    zero_dce = dict(table.rows)["zero_dce"]
    assert zero_dce[0].delta.startswith(("+", "-")) and zero_dce[0].full
    # the same two images as a copy of a 64-image dataset: a subset, marked, never compared
    run.manifest["datasets"]["dicm"]["published_images"] = 64
    run._summary = None
    zero_dce = dict(TABLE1.build(run).rows)["zero_dce"]
    assert not zero_dce[0].delta and not zero_dce[0].full and "(2/64)" in zero_dce[0].text
    assert UNCOMPARED_MARK in zero_dce[0].marks


def as_paper_run(run, dataset, metric):
    """``write_run``'s run with its dataset and metric renamed to a paper table's."""
    run.manifest["datasets"] = {dataset: {**run.manifest["datasets"]["d"], "name": dataset}}
    run.manifest["metrics"] = {metric: {**run.manifest["metrics"]["m"], "name": metric}}
    run.scores["dataset"], run.scores["metric"] = dataset, metric
    run._summary = None
    (run.path / "summary.csv").unlink()
    return run


def test_table2_marks_come_from_paired_tests_like_every_table(tmp_path):
    """Table 2 (methods as columns): the best mark is shared by methods not significantly worse,
    the identity's column is never marked, and its notes explain marks and coverage."""
    from llebench_reports.paper_tables import methods_as_columns
    from llebench_reports.tables import TABLE2

    rng = np.random.default_rng(3)
    base = rng.uniform(14, 16, size=30)
    run = as_paper_run(write_run(tmp_path / "run", {
        "input": list(base + 5),  # the identity scores best here, and still takes no mark
        "zero_dce": list(base),
        "scl_lle": list(base + rng.normal(0, 0.02, 30)),  # indistinguishable from zero_dce
        "lime": list(base - 1.0),
    }, lower_better=False), "sice_part2", "psnr")
    table = methods_as_columns(TABLE2, run)
    headers = [col.metric for col in table.columns]
    measured = dict(table.rows)[next(label for label, _ in table.rows if label.startswith("PSNR") and "paper" not in label)]
    ranks = {header.split(" ")[0]: cell.rank for header, cell in zip(headers, measured) if cell.value is not None}
    assert ranks == {"input": None, "zero_dce": 1, "scl_lle": 1, "lime": 2}
    assert table.notes[0] == SIGNIFICANCE_NOTE


# -- what produced a row ------------------------------------------------------------------------


def test_custom_weights_and_options_are_marked_and_change_the_variant(shared_weights, tmp_path):
    copy = tmp_path / "downloaded.pth"  # the published file under another name: not custom
    shutil.copyfile(shared_weights / "zero_dce_epoch99.pth", copy)
    out = tmp_path / "run"
    assert main(["run", "--methods", "input,zero_dce,mine=zero_dce,half=zero_dce,same=zero_dce,tiled=zero_dce,"
                 "cl=clahe,cl4=clahe", "--weights", f"mine={shared_weights / 'scl_lle.pth'}", "--weights",
                 f"same={copy}", "-o", "half.precision=bf16", "-o", "tiled.tile=64",
                 "-o", "cl.variant=clip=2,grid=8x8", "-o", "cl4.variant=clip=4,grid=8x8",  # default; not
                 "--datasets", "sample", "--metrics", "psnr", "--limit", "1", "--out", str(out),
                 "--no-progress"]) == 0
    variants = pd.read_csv(out / "scores.csv", keep_default_na=False).groupby("method").variant.first().to_dict()
    assert variants == {"input": "", "zero_dce": "", "mine": "custom-weights", "half": "bf16", "same": "",
                        "tiled": "tile=64", "cl": "", "cl4": "clip=4,grid=8x8"}
    html = (out / "report.html").read_text()
    assert "mine ‡" in html and "not the published file" in html
    assert "half ¶" in html and "half ¶: ¶ variant bf16<" in html  # said once, not again as an option
    assert "tiled ¶" in html and "variant tile=64" in html
    assert "cl4 ¶" in html and "variant clip=4,grid=8x8<" in html
    for plain in ("zero_dce", "same", "cl"):
        assert f"{plain} ‡" not in html and f"{plain} ¶" not in html, plain


def test_the_ema_teacher_of_a_checkpoint_is_its_own_row(tmp_path):
    import torch

    from llebench_ssll.backbones import build_backbone

    student, teacher = build_backbone("unet").state_dict(), build_backbone("unet").state_dict()
    checkpoint = tmp_path / "iter_3.pt"
    torch.save({"model": student, "state": {"ema": {"module": teacher}}}, checkpoint)
    out = tmp_path / "run"
    assert main(["run", "--methods", "ssll,teach=ssll", "--weights", f"ssll={checkpoint}", "--weights",
                 f"teach={checkpoint}", "-o", "teach.teacher=true", "--datasets", "sample", "--metrics", "psnr",
                 "--limit", "1", "--out", str(out), "--no-progress"]) == 0
    variants = pd.read_csv(out / "scores.csv", keep_default_na=False).groupby("method").variant.first().to_dict()
    assert variants == {"ssll": "custom-weights", "teach": "teacher+custom-weights"}
    html = (out / "report.html").read_text()
    assert "teach ‡¶" in html and "¶ variant teacher" in html and re.search("ssll ‡(?!¶)", html)


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
    manifest = json.loads((out / "manifest.json").read_text())
    entry = next(iter(manifest["datasets"].values()))
    assert entry["images"] == 3 and entry["fingerprint"]["files"] == 3
    assert (manifest["bootstrap"]["resamples"], manifest["bootstrap"]["seed"]) == (10_000, 0)
    listing_file = next((out / "fingerprints").glob("*.sha256"))
    listing = listing_file.read_text().splitlines()
    assert len(listing) == 3 and all(re.match(r"^[0-9a-f]{64}  \d\.png$", line) for line in listing), listing
    if shutil.which("sha256sum"):  # the listing is sha256sum's own format
        subprocess.run(["sha256sum", "--check", "--strict", "--quiet", str(listing_file)], cwd=entry["fingerprint_dir"],
                       check=True)
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


def test_runs_on_copies_of_the_same_data_in_other_directories_merge(tmp_path):
    """Where the data lives is not what it is: two machines' runs merge; changed bytes do not."""
    first = make_folder(tmp_path / "a" / "DICM", count=3)
    shutil.copytree(first, tmp_path / "b" / "DICM")
    for name, root in (("one", "a"), ("two", "b")):
        assert main(["run", "--methods", "input" if name == "one" else "gamma", "--datasets", "dicm", "--metrics",
                     "loe,seconds", "--data-root", str(tmp_path / root), "--out", str(tmp_path / name), "--no-progress",
                     "--no-report"]) == 0
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    (tmp_path / "two" / "manifest.json").write_text(json.dumps({**manifest, "device": "cuda:0"}))  # another machine
    assert main(["report", str(tmp_path / "one"), str(tmp_path / "two"), "--output", str(tmp_path / "m.html")]) == 0
    page = (tmp_path / "m.html").read_text()
    assert "gamma" in page and re.search(r"seconds: on cpu [^;]*\(one\), cuda:0 \(two\)", page)
    Image.new("RGB", (120, 96), (9, 9, 9)).save(tmp_path / "b" / "DICM" / "1.png")
    assert main(["run", "--methods", "gamma", "--datasets", "dicm", "--metrics", "loe", "--data-root",
                 str(tmp_path / "b"), "--out", str(tmp_path / "three"), "--no-progress", "--no-report"]) == 0
    with pytest.raises(RunConfigError, match="dataset 'dicm': fingerprint differ"):
        merge_runs([RunResults.load(tmp_path / "one"), RunResults.load(tmp_path / "three")], tmp_path)


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


def test_a_fixed_timing_resolution_on_the_command_line(tmp_path):
    assert main(["run", "--methods", "gamma", "--metrics", "seconds_median:40x30", "--limit", "1", "--out",
                 str(tmp_path / "r"), "--no-progress", "--no-report"]) == 0
    settings = json.loads((tmp_path / "r" / "manifest.json").read_text())["metrics"]["seconds_median:40x30"]
    assert "resized to 40x30" in settings["settings"]["input"]
    assert main(["run", "--methods", "gamma", "--metrics", "seconds_median:40", "--limit", "1", "--out",
                 str(tmp_path / "bad"), "--no-progress", "--no-report"]) == 2


# -- small defects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_limit_below_one_is_a_configuration_error(limit, tmp_path, capsys):
    assert main(["run", "--methods", "input", "--limit", limit, "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_a_run_where_every_metric_was_skipped_says_so_and_exits_1(tmp_path, capsys):
    data = make_folder(tmp_path / "photos", count=2)
    assert main(["run", "--methods", "input", "--datasets", f"folder:{data}", "--metrics", "psnr", "--out",
                 str(tmp_path / "r"), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "every metric was skipped" in out and "no report written" in out
    assert not list((tmp_path / "r").glob("report*"))  # no empty report pages


def test_a_setup_error_is_printed_once(isolated_weights, tmp_path, capsys):
    assert main(["run", "--methods", "zero_dce", "--metrics", "psnr", "--limit", "1", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert out.count("zero_dce_epoch99.pth not found") == 1 and "failed: zero_dce / psnr: the error above" in out


def test_result_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        assert main(["run", "--methods", "input,gamma", "--metrics", "psnr", "--limit", "1", "--out",
                     str(tmp_path / "r"), "--no-progress"]) == 0
    finally:
        os.umask(previous)
    files = [path for path in (tmp_path / "r").rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"scores.csv", "summary.csv", "manifest.json", "report.html", "report.md"} <= names
    assert any(path.suffix == ".png" for path in files)  # the cached outputs too
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o644, (path, oct(mode))


def test_plain_and_gt_mean_metrics_sit_side_by_side_and_labelled(tmp_path):
    assert main(["run", "--methods", "input,gamma", "--metrics", "psnr_gtmean,ssim,psnr,ssim_gtmean", "--limit", "2",
                 "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    from llebench.report.tables import leaderboard_table

    table = leaderboard_table(RunResults.load(tmp_path / "r"))
    assert [col.metric for col in table.columns] == ["psnr", "psnr_gtmean", "ssim", "ssim_gtmean"]
    html = (tmp_path / "r" / "report.html").read_text()
    assert "psnr_gtmean ↑" in html and "(KinD / LLFlow evaluation)" in html  # the header and how it was adjusted


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
    assert main(["run", "--methods", "input", "--datasets", "dcim", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "did you mean 'dicm'" in capsys.readouterr().err
    assert main(["run", "--methods", "input", "--metrics", "nique", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert re.search("did you mean [^?]*'niqe'", capsys.readouterr().err)


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
