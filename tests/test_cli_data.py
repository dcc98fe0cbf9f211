"""``llebench data list|check`` and ``llebench run --ref``."""

from __future__ import annotations

import json

import pandas as pd

from llebench.cli import main
from test_datasets import write_image, write_pairs


def blocks(output: str) -> dict[str, str]:
    """``data list`` output split into one text block per dataset name."""
    found = {}
    for block in output.split("\n\n")[1:]:
        found[block.split(" ", 1)[0]] = block
    return found


def test_list_on_the_shared_data(shared_data, capsys, monkeypatch):
    monkeypatch.setenv("LLEBENCH_DATA", str(shared_data))
    assert main(["data", "list"]) == 0
    listed = blocks(capsys.readouterr().out)
    assert listed["dicm"].startswith("dicm (no-reference): found, 64 images")
    assert f"looks in: {shared_data / 'DICM'}" in listed["dicm"]
    for name in ("lime", "mef", "npe", "vv", "sice_part2", "lol", "lolv2_real", "lolv2_synthetic", "lsrw"):
        assert f"{name} (" in listed[name] and "): missing, " in listed[name], listed[name]
        assert "layout:   $LLEBENCH_DATA/" in listed[name] and "source:   " in listed[name]
    assert "sice_part2 (paired): missing, not found: " in listed["sice_part2"]
    assert "SICE_part2/Label/{1..229}.JPG" in listed["sice_part2"]
    assert listed["sample"].startswith("sample (paired): found, 4 images")
    assert "folder (no-reference): missing, needs a path: use folder:PATH" in listed["folder"]


def test_list_tells_found_missing_and_wrong_apart(tmp_path, capsys):
    write_image(tmp_path / "LIME/1.bmp")
    write_image(tmp_path / "LOL/eval15/low/1.png")  # no high/: a wrong layout
    assert main(["data", "list", "--data-root", str(tmp_path)]) == 0
    listed = blocks(capsys.readouterr().out)
    assert listed["lime"].startswith("lime (no-reference): found, 1 image")
    assert listed["lol"].startswith(f"lol (paired): wrong, {tmp_path}/LOL/eval15/high is missing")
    assert listed["dicm"].startswith(f"dicm (no-reference): missing, not found: {tmp_path}/DICM is not a directory")


def test_list_without_data_root(capsys, monkeypatch):
    monkeypatch.delenv("LLEBENCH_DATA", raising=False)
    assert main(["data", "list"]) == 0
    output = capsys.readouterr().out
    assert output.startswith("data root: not set")
    assert "dicm (no-reference): missing, needs a data root: set $LLEBENCH_DATA or pass --data-root" in output


def test_check_reports_each_bad_file(tmp_path, capsys):
    low, high = tmp_path / "LOL/eval15/low", tmp_path / "LOL/eval15/high"
    write_pairs(low, high, ["1.png", "2.png"])
    write_image(low / "3.png")                       # no reference
    write_image(low / "4.png", size=(12, 8))
    write_image(high / "4.png", size=(10, 8))        # size mismatch
    (low / "5.png").write_bytes(b"garbage")          # unreadable
    write_image(high / "5.png")
    write_image(high / "6.png")                      # reference without input
    code = main(["data", "check", "lol", "--data-root", str(tmp_path), "--no-progress"])
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"3.png: missing reference (no image named 3.* in {high})"
    assert lines[1] == (f"4.png: size mismatch: input 12x8, reference 10x8 [{high}/4.png] "
                        "(full-reference metrics will fail)")
    assert lines[2].startswith(f"5.png: unreadable: {low}/5.png: ")
    assert lines[3] == f"{high}/6.png: reference without an input in {low}"
    assert lines[4] == f"lol: 5 samples checked in {tmp_path}/LOL, 4 problems"


def test_check_passes_options_and_clean_data(tmp_path, capsys):
    write_pairs(tmp_path / "LOL/our485/low", tmp_path / "LOL/our485/high", ["1.png", "2.png"])
    assert main(["data", "check", "lol", "-o", "split=train", "--data-root", str(tmp_path), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == f"lol: 2 samples checked in {tmp_path}/LOL, 0 problems"
    assert main(["data", "check", "lol", "--data-root", str(tmp_path), "--no-progress"]) == 2
    assert f"error: dataset 'lol': {tmp_path}/LOL/eval15/low is missing (expected layout: " in capsys.readouterr().err
    assert main(["data", "check", "lol", "-o", "split=val", "--data-root", str(tmp_path)]) == 2
    assert "split='val'" in capsys.readouterr().err


def test_check_folder_with_ref(tmp_path, capsys):
    write_pairs(tmp_path / "in", tmp_path / "gt", ["a.png"])
    write_image(tmp_path / "in/b.png")
    code = main(["data", "check", f"folder:{tmp_path / 'in'}", "--ref", str(tmp_path / "gt"), "--no-progress"])
    assert code == 1
    out = capsys.readouterr().out
    assert f"b.png: missing reference (no image named b.* in {tmp_path / 'gt'})" in out
    assert main(["data", "check", f"folder:{tmp_path / 'in'}", "--no-progress"]) == 0


def test_run_with_ref_scores_full_reference_metrics(tmp_path, capsys):
    write_pairs(tmp_path / "in", tmp_path / "gt", ["a.png", "b.png"])
    out = tmp_path / "run"
    code = main(["run", "--methods", "input", "--datasets", f"folder:{tmp_path / 'in'}", "--ref", str(tmp_path / "gt"),
                 "--metrics", "psnr", "--out", str(out), "--no-progress", "--no-report"])
    assert code == 0, capsys.readouterr()
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 2 and (scores.status == "ok").all() and (scores.value < 20).all()  # noise vs other noise
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["datasets"][f"folder:{tmp_path / 'in'}"]
    assert entry["kind"] == "paired" and entry["settings"]["ref"] == str(tmp_path / "gt")


def test_ref_needs_exactly_one_folder_dataset(tmp_path, capsys):
    assert main(["run", "--methods", "input", "--datasets", "sample", "--ref", str(tmp_path),
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "--ref needs exactly one dataset that takes a reference folder (folder:PATH), got 0" in capsys.readouterr().err


THIRD_PARTY = '''
import torch
from llebench.sdk import hookimpl
from llebench.api import Dataset, Sample


class Tiny(Dataset):
    name = "tiny"
    kind = "paired"
    layout = "generated"

    def ids(self):
        return ["a", "b"]

    def load(self, sample_id):
        size = 4 if sample_id == "a" else 5
        return Sample(id=sample_id, input=torch.zeros(1, 3, 4, 4), reference=torch.zeros(1, 3, size, size))


@hookimpl
def llebench_register_datasets(register):
    register(Tiny)
'''


def test_a_third_party_dataset_is_listed_and_checked_through_the_api(tmp_path, capsys):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "tiny_dataset.py").write_text(THIRD_PARTY)
    assert main(["data", "list", "--plugins-dir", str(tmp_path / "plugins")]) == 0
    assert "tiny (paired): found, 2 images\n  layout:   generated" in capsys.readouterr().out
    assert main(["data", "check", "tiny", "--plugins-dir", str(tmp_path / "plugins"), "--no-progress"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == ["b: size mismatch: input 4x4, reference 5x5 [reference] (full-reference metrics will fail)",
                   "tiny: 2 samples checked, 1 problem"]
