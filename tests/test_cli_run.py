"""End to end through the command line: the README's main job, options, configs, reports."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from llebench.cli import apply_method_options, main, method_specs
from llebench.components import parse_value
from llebench.errors import RunConfigError


def test_main_job_on_sample(shared_weights, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LLEBENCH_OFFLINE", "1")  # weights must come from $LLEBENCH_WEIGHTS
    out = tmp_path / "run"
    assert main(["run", "--methods", "scl_lle,zero_dce", "--out", str(out), "--no-progress"]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores.metric) == {"niqe", "psnr", "ssim", "seconds"}
    assert set(scores.dataset) == {"sample"} and (scores.status == "ok").all()
    assert len(scores) == 2 * 4 * 4
    psnr = scores[scores.metric == "psnr"].groupby("method").value.mean()
    assert (psnr > 10).all()  # enhanced outputs are real images, not noise
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["methods"]["scl_lle"]["weights"] == {
        "scl_lle.pth": "fc5aa74a6674bb747b325e5a06efbfea2973c10cc93cf25cd2b8f33a038e821f"}
    assert manifest["metrics"]["niqe"]["settings"]["implementation"].startswith("llebench niqe")
    assert manifest["versions"]["torch"] and manifest["device"].startswith("cpu")
    assert manifest["finished"]
    html = (out / "report.html").read_text()
    assert "scl_lle" in html and "niqe ↓" in html and "psnr ↑" in html
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "scores: 32 computed" in capsys.readouterr().out


def test_missing_weights_fail_the_method_with_one_clear_message(isolated_weights, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--methods", "input,zero_dce", "--metrics", "psnr", "--out", str(out), "--no-progress"])
    assert code == 1
    printed = capsys.readouterr().out
    assert "zero_dce_epoch99.pth" in printed and "https://github.com/Li-Chongyi/Zero-DCE" in printed
    assert str(isolated_weights) in printed
    scores = pd.read_csv(out / "scores.csv")
    assert (scores[scores.method == "input"].status == "ok").all()  # the rest of the run is saved
    assert (scores[scores.method == "zero_dce"].status == "failed").all()


def test_dataset_folder_absent_is_a_clear_error(tmp_path, capsys):
    """A configuration error (exit 2), like an unknown dataset name; the other datasets still run."""
    code = main(["run", "--methods", "input", "--datasets", "dicm,sample", "--metrics", "seconds",
                 "--data-root", str(tmp_path), "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 2
    assert set(pd.read_csv(tmp_path / "run" / "scores.csv").dataset) == {"sample"}
    assert f"{tmp_path}/DICM is not a directory" in capsys.readouterr().out


def test_unknown_names_and_bad_options_are_config_errors(tmp_path, capsys):
    assert main(["run", "--methods", "nope", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["run", "--methods", "input", "-o", "input.strength=2", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 2
    assert "bad options" in capsys.readouterr().err


def test_option_parsing(plugins):
    assert parse_value("0.5") == 0.5 and parse_value("true") is True and parse_value("abc") == "abc"
    specs = method_specs("input,lime,zero_dce")
    apply_method_options(specs, ["lime.gamma=0.7"], ["w.pth"], plugins, allow_untrained=True)
    # --weights PATH goes to the one method that takes weights; --allow-untrained to those that accept it
    assert [s.options for s in specs] == [{}, {"gamma": 0.7}, {"weights": "w.pth", "allow_untrained": True}]
    with pytest.raises(RunConfigError, match="exactly one method that takes weights"):
        apply_method_options(method_specs("zero_dce,scl_lle"), [], ["w.pth"], plugins, False)
    with pytest.raises(RunConfigError, match="not a method of this run"):
        apply_method_options(method_specs("input"), ["other.x=1"], [], plugins, False)
    with pytest.raises(RunConfigError, match="METHOD.KEY=VALUE"):
        apply_method_options(method_specs("input"), ["x=1"], [], plugins, False)
    # LABEL=NAME: the same method twice, told apart by label
    specs = method_specs("zero_dce,mine=zero_dce")
    apply_method_options(specs, [], ["mine=my.pth"], plugins, False)
    assert [(s.name, s.label, s.options) for s in specs] == [("zero_dce", "zero_dce", {}),
                                                            ("zero_dce", "mine", {"weights": "my.pth"})]


def test_config_file_with_labels(shared_weights, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(f'''
out = "{tmp_path / 'run'}"
datasets = ["sample"]
metrics = ["psnr"]
limit = 1
[[methods]]
name = "input"
[[methods]]
name = "zero_dce"
label = "zero_dce (official)"
''')
    assert main(["run", "--config", str(config), "--no-progress"]) == 0
    scores = pd.read_csv(tmp_path / "run" / "scores.csv")
    assert set(scores.method) == {"input", "zero_dce (official)"}


def test_report_marks_best_and_second_and_escapes_names(tmp_path):
    from throwaway import ThrowawayPlugin

    from llebench.plugins import load_plugins
    from llebench.components import ComponentSpec
    from llebench.runner import Runner, RunPlan
    from llebench.results import RunResults
    from llebench_reports.leaderboard import Leaderboard

    plugin_set = load_plugins(extra=[("throwaway", ThrowawayPlugin())])
    evil = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    methods = [ComponentSpec.parse("input"), ComponentSpec("brighten", evil),
               ComponentSpec("brighten", "brighten x4", options={"factor": 4.0})]
    plan = RunPlan(methods=methods, datasets=[ComponentSpec.parse("tiny")],
                   metrics=[ComponentSpec.parse("abs_error")], out=tmp_path / "run")
    Runner(plugin_set, plan, progress=False).run()
    html = Leaderboard().render(RunResults.load(tmp_path / "run"))
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    # abs_error to a 0.4 reference on the 4 readable images: x2 (0.4) is exact, x4 (0.8) worse on every
    # image, but 4 images cannot make a difference significant: both share the best mark; the input is a
    # reference row, never marked
    cells = dict(re.findall(r'<td class="method">(.*?)</td><td class="([a-z ]*)"', html))
    assert cells["input"] == "" and cells["brighten x4 ¶"] == "best"
    assert [v for k, v in cells.items() if k.startswith("&#34;&gt;")] == ["best"]
