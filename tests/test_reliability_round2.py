"""Reliability, round two: names, collisions, concurrent runs, damaged caches, strict configs.

One test per case of docs/reliability.md's second table; each closes the class of bug, not
only the single case (e.g. every reader of a run is checked not to write, not only one).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from llebench.atomic import TEMP_PREFIX
from llebench.cli import main
from llebench.lock import RunLock
from llebench.results import RunResults

HELPERS = Path(__file__).parent / "reliability_plugins"


def photos(root: Path, names: list[str], size=(32, 24)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 120, (size[1], size[0], 3), dtype=np.uint8)).save(root / name)
    return root


def run(*args: str) -> int:
    return main(["run", "--plugins-dir", str(HELPERS), "--no-progress", *args])


# -- results that could be lost or corrupted --------------------------------------------------------


def test_two_files_with_one_stem_refuse_the_dataset_naming_both(tmp_path, capsys):
    data = photos(tmp_path / "data", ["a.jpg", "a.png", "b.png"])
    assert run("--methods", "sleepy", "--datasets", f"folder:{data}", "--metrics", "mean",
               "--out", str(tmp_path / "run")) == 2
    err = capsys.readouterr().out
    assert "'a.jpg' and 'a.png' would share one cached output (a.png" in err
    assert not (tmp_path / "run" / "images").exists()  # nothing was cached under the shared name


def test_names_that_differ_only_in_case_are_one_file_on_many_disks(tmp_path, capsys):
    data = photos(tmp_path / "data", ["A.jpg", "a.png"])
    assert run("--methods", "sleepy", "--datasets", f"folder:{data}", "--metrics", "mean",
               "--out", str(tmp_path / "run")) == 2
    assert "'A.jpg' and 'a.png' would share one cached output" in capsys.readouterr().out


def test_a_second_writer_is_refused_at_once_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    assert run("--methods", "sleepy", "--datasets", "sample", "--metrics", "mean", "--out", str(out),
               "--limit", "1") == 0
    with RunLock(out):  # a writer holds the directory
        assert run("--methods", "sleepy", "--datasets", "sample", "--metrics", "mean", "--out", str(out)) == 2
        err = capsys.readouterr().err
        assert f"is being written by another llebench process (pid {os.getpid()} on " in err
        assert main(["report", str(out)]) == 0  # a reader needs no lock
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from llebench.lock import RunLock; lock = RunLock(Path(sys.argv[1])); "
                               "lock.acquire(); print('held', flush=True); time.sleep(60)", str(out)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run("--methods", "sleepy", "--datasets", "sample", "--metrics", "mean", "--out", str(out)) == 2
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock; nothing is left stale
        holder.wait()
    assert run("--methods", "sleepy", "--datasets", "sample", "--metrics", "mean", "--out", str(out),
               "--limit", "2") == 0


def test_training_holds_the_writer_lock_of_its_directory(tmp_path, capsys):
    """A second writer of a training directory (training or run) is refused at once, naming the
    holder, before it touches a checkpoint; a killed training's temporaries are removed."""
    from llebench.atomic import TEMP_PREFIX
    from llebench.lock import RunLock

    out = tmp_path / "train"
    config = tmp_path / "t.toml"
    config.write_text("[train]\niterations = 1\nbatch_size = 1\n[data]\nimage_size = 32\n")
    with RunLock(out):  # another llebench process is writing there
        assert main(["train", "zero_dce", "--config", str(config), "--out", str(out)]) == 2
        assert "is being written by another llebench process" in capsys.readouterr().err
        assert not (out / "checkpoints").exists()
    stale = out / f"{TEMP_PREFIX}iter_1.pt"
    stale.write_bytes(b"half")
    data = photos(tmp_path / "photos", ["a.png", "b.png"], size=(40, 40))
    assert main(["train", "zero_dce", "--config", str(config), "--out", str(out),
                 "--set", f'data.root="{data}"']) == 0
    assert not stale.exists() and (out / "model.pt").exists()


def test_readers_never_modify_the_run(tmp_path):
    out = tmp_path / "run"
    assert run("--methods", "sleepy", "--datasets", "sample", "--metrics", "mean", "--out", str(out),
               "--limit", "2") == 0
    scores = out / "scores.csv"
    with open(scores, "ab") as fh:  # a writer mid-row (or killed there)
        fh.write(b"sleepy,,,sample,chelsea.png,me")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    loaded = RunResults.load(out)
    loaded.summary()
    loaded.entries("methods")
    assert len(loaded.scores) == 2  # the torn row is ignored in memory
    assert main(["report", str(out), "--output", str(tmp_path / "elsewhere.html"), "--layout", "leaderboard"]) == 0
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_a_report_of_an_unwritable_directory_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import errno

    import llebench.report.html
    from llebench.errors import OutputNotWritable

    out = tmp_path / "run"
    assert run("--methods", "sleepy", "--datasets", "sample", "--metrics", "mean", "--out", str(out),
               "--limit", "1", "--no-report") == 0

    def read_only(path, text):
        raise OutputNotWritable.wrap(path, OSError(errno.EROFS, os.strerror(errno.EROFS)))

    monkeypatch.setattr(llebench.report.html, "atomic_write_text", read_only)
    for layouts in (["--layout", "leaderboard"], []):  # chosen, or every layout the run fills
        assert main(["report", str(out), *layouts]) == 2
        err = capsys.readouterr().err
        assert "Read-only file system" in err and "Traceback" not in err and "skipped layout" not in err


def test_a_report_written_elsewhere_links_back_into_the_run_and_writes_nothing_there(tmp_path):
    from urllib.parse import unquote

    data = photos(tmp_path / "data", ["a#1.png", "b.png"])
    out = tmp_path / "run"
    assert run("--methods", "sleepy", "--datasets", f"folder:{data}", "--metrics", "mean", "--out", str(out),
               "--no-report") == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    page = tmp_path / "pages" / "mine.html"
    page.parent.mkdir()
    assert main(["report", str(out), "--layout", "leaderboard", "--output", str(page), "--pairwise"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # the run is only read
    assert (page.parent / "pairwise.csv").exists() and (page.parent / "mine.md").exists()
    html = page.read_text()
    links = re.findall(r'href="([^"]+\.png)"', html)
    assert links and all((page.parent / unquote(link)).is_file() for link in links), links
    assert 'href="mine.csv"' in html and 'href="report.csv"' not in html


def test_a_damaged_cached_output_is_recomputed_and_reports_show_a_placeholder(tmp_path, capsys):
    data = photos(tmp_path / "data", ["a.png", "b.png"])
    out = tmp_path / "run"
    args = ["--methods", "sleepy", "--datasets", f"folder:{data}", "--metrics", "mean", "--out", str(out)]
    assert run(*args) == 0
    cached = next((out / "images").rglob("a.png"))
    good = cached.read_bytes()
    cached.write_bytes(good[: len(good) // 2])  # truncated after the run
    from llebench_reports.leaderboard import Leaderboard

    html = Leaderboard().render(RunResults.load(out))  # the report copes before anything is recomputed
    assert "cached output unreadable" in html
    assert run(*args[:-4], "--metrics", "mean,seconds", "--out", str(out)) == 0  # a new metric: reads the output
    assert "recomputed 1 cached outputs that no longer decoded" in capsys.readouterr().out
    assert cached.read_bytes() == good
    Image.new("RGB", (10, 10)).save(cached)  # replaced by another picture: it decodes, at the wrong size
    assert run(*args[:-4], "--metrics", "mean,seconds,seconds_median:8x8", "--out", str(out)) == 0
    assert "recomputed 1 cached outputs that no longer decoded or had the wrong size" in capsys.readouterr().out
    assert cached.read_bytes() == good


def test_non_utf8_labels_of_folders_and_methods_round_trip(tmp_path):
    """A folder whose name is not UTF-8 is a dataset label with a surrogate escape, and so may a
    method label be: summaries, pairwise tests, tables and resumes take them like any other."""
    data = photos(tmp_path / os.fsdecode(b"caf\xe9"), ["a.png", "b.png", "c.png"])
    method = os.fsdecode(b"m\xe9")
    out = tmp_path / "run"
    args = ["--methods", f"{method}=sleepy,other=sleepy", "--datasets", f"folder:{data}", "--metrics", "mean",
            "--out", str(out)]
    assert run(*args) == 0
    assert run(*args) == 0  # resume: nothing new, summary and reports written again
    summary = RunResults.load(out).summary()
    assert set(summary.method) == {method, "other"} and set(summary.dataset) == {f"folder:{data}"}
    assert main(["report", str(out), "--pairwise"]) == 0
    header, pair = (out / "pairwise.csv").read_bytes().splitlines()
    assert pair.startswith(b"folder:" + os.fsencode(data) + b",mean,") and b"m\xe9" in pair


def test_non_utf8_file_names_round_trip(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: a surrogate escape in Python
    Image.fromarray(np.full((24, 32, 3), 60, dtype=np.uint8)).save(data / name)
    photos(data, ["plain.png"])
    out = tmp_path / "run"
    args = ["--methods", "sleepy", "--datasets", f"folder:{data}", "--metrics", "mean", "--out", str(out)]
    assert run(*args) == 0
    loaded = RunResults.load(out)
    assert set(loaded.scores.image) == {name, "plain.png"} and (loaded.scores.status == "ok").all()
    assert (out / "images").rglob("*") and any(p.name == os.fsdecode(b"caf\xe9.png") for p in out.rglob("*.png"))
    before = (out / "scores.csv").read_bytes()
    assert run(*args) == 0  # resume: nothing to do, nothing re-written differently
    assert (out / "scores.csv").read_bytes() == before and b"caf\xe9.png" in before
    html = (out / "report.html").read_bytes()
    assert b"caf%E9.png" in html  # the link names the file's own bytes


# -- configs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("line, message", [
    ('device = 5', "device = 5: expected a string, got int"),
    ('limit = "3"', "limit = '3': expected an integer, got str"),
    ('workers = "many"', "workers = 'many': expected an integer, got str"),
    ('data_root = 7', "data_root = 7: expected a string, got int"),
    ('out = 5', "out = 5: expected a string, got int"),
    ('reuse_cpu_memory = "no"', "reuse_cpu_memory = 'no': expected a boolean (true/false), got str"),
    ('methods = [{name = "input", label = 5}]', "label must be a string, got 5"),
    ('metric_batch = 0', "metric_batch = 0: must be at least 1"),
    ('device = "banana"', "device 'banana': not a device torch knows"),
    ('device = ""', "device '': not a device torch knows"),
    ('out = ""', "out = '': name a results directory"),
])
def test_run_config_values_of_the_wrong_type_are_configuration_errors(line, message, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(f'methods = ["input"]\nmetrics = ["psnr"]\nlimit = 1\nout = "{tmp_path / "r"}"\n'
                      if "methods" not in line else f'metrics = ["psnr"]\nout = "{tmp_path / "r"}"\n')
    text = config.read_text().splitlines()
    key = line.split(" = ")[0]
    config.write_text("\n".join([t for t in text if not t.startswith(key + " ")] + [line]) + "\n")
    assert main(["run", "--config", str(config), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_config_that_is_not_utf8_is_a_configuration_error(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_bytes(b'methods = ["input"]\nout = "caf\xe9"\n')
    assert main(["run", "--config", str(config), "--no-progress"]) == 2
    assert f"cannot read config {config}" in capsys.readouterr().err


def test_train_config_values_of_the_wrong_type_are_configuration_errors(tmp_path, capsys):
    config = tmp_path / "train.toml"
    config.write_text('[train]\niterations = "many"\n')
    assert main(["train", "zero_dce", "--config", str(config), "--out", str(tmp_path / "t")]) == 2
    assert "train.iterations = 'many': expected an integer, got str" in capsys.readouterr().err
    assert main(["train", "zero_dce", "--config", str(config), "--out", str(tmp_path / "t"),
                 "--set", "train.iterations=2", "--set", "train.progress=\"no\""]) == 2
    assert "train.progress = 'no': expected a boolean" in capsys.readouterr().err
    config.write_text('[data]\nimage_size = -4\n')  # a size or count of a trainer's own tables: not negative
    assert main(["train", "zero_dce", "--config", str(config), "--out", str(tmp_path / "t")]) == 2
    assert "data.image_size = -4: must be at least 0" in capsys.readouterr().err
    config.write_text("")
    assert main(["train", "zero_dce", "--config", str(config), "--out", str(tmp_path / "t"), "--device", "banana"]) == 2
    assert "device 'banana': not a device torch knows" in capsys.readouterr().err


def test_an_argument_to_a_dataset_that_takes_none_is_refused(tmp_path, capsys):
    assert run("--methods", "input", "--datasets", "dicm:ANYTHING", "--out", str(tmp_path / "r")) == 2
    assert "dataset 'dicm' takes no ':' argument (got 'dicm:ANYTHING')" in capsys.readouterr().err


def test_an_invalid_pixel_limit_is_a_configuration_error_naming_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLEBENCH_MAX_PIXELS", "lots")
    assert run("--methods", "input", "--datasets", "sample", "--metrics", "psnr", "--out", str(tmp_path / "r")) == 2
    assert "LLEBENCH_MAX_PIXELS='lots': expected a positive whole number of pixels" in capsys.readouterr().err
    assert not (tmp_path / "r" / "scores.csv").exists()
    # every command that reads images says so before it starts, not one failure per file
    monkeypatch.delenv("LLEBENCH_MAX_PIXELS")
    assert run("--methods", "input", "--datasets", "sample", "--metrics", "psnr", "--limit", "1",
               "--out", str(tmp_path / "ok")) == 0
    for bad in ("-5", "2.5", "inf"):
        monkeypatch.setenv("LLEBENCH_MAX_PIXELS", bad)
        for argv in (["data", "check", "sample"], ["report", str(tmp_path / "ok")]):
            assert main(argv) == 2, argv
            assert f"LLEBENCH_MAX_PIXELS='{bad}'" in capsys.readouterr().err
    monkeypatch.setenv("LLEBENCH_MAX_PIXELS", "1e9")
    assert main(["report", str(tmp_path / "ok")]) == 0


# -- smaller -------------------------------------------------------------------------------------------


def test_stale_temporaries_of_a_killed_run_are_removed_at_the_next_start(tmp_path):
    out = tmp_path / "run"
    assert run("--methods", "sleepy", "--datasets", "sample", "--metrics", "mean", "--out", str(out),
               "--limit", "1") == 0
    stale = [out / f"{TEMP_PREFIX}abc.csv", out / "images" / f"{TEMP_PREFIX}x.png"]
    for path in stale:
        path.write_bytes(b"half a file")
    other = out / ".someone-elses.tmp"
    other.write_bytes(b"not ours")
    nested = out / "colleague" / "run"  # another run inside this one: its writer's temporaries are its own
    nested.mkdir(parents=True)
    (nested / ".llebench.lock").write_text("")
    live = nested / f"{TEMP_PREFIX}live.png"
    live.write_bytes(b"being written")
    assert run("--methods", "sleepy", "--datasets", "sample", "--metrics", "mean", "--out", str(out),
               "--limit", "2") == 0
    assert not any(path.exists() for path in stale) and other.exists() and live.exists()
    assert list(out.rglob(f"{TEMP_PREFIX}*")) == [live]


@pytest.mark.parametrize("name", ["with#hash.png", "per%cent.png", "what?.png", "new\nline.png"])
def test_thumbnail_links_are_url_encoded(name, tmp_path):
    from urllib.parse import unquote

    data = photos(tmp_path / "data", [name])
    out = tmp_path / "run"
    assert run("--methods", "sleepy", "--datasets", f"folder:{data}", "--metrics", "mean", "--out", str(out)) == 0
    html = (out / "report.html").read_text()
    links = [link for link in __import__("re").findall(r'<a href="([^"]+)">', html) if link.startswith("images/")]
    assert len(links) == 1 and "#" not in links[0] and "?" not in links[0] and "\n" not in links[0]
    assert (out / unquote(links[0])).is_file()


def test_seconds_after_an_out_of_memory_fallback_time_the_tiled_call_only(tmp_path):
    data = photos(tmp_path / "data", ["big.png"], size=(90, 70))
    out = tmp_path / "run"
    assert run("--methods", "oom_above", "-o", "oom_above.error=cpu", "-o", "oom_above.fail_after=1.0",
               "--datasets", f"folder:{data}", "--metrics", "seconds", "--out", str(out)) == 0
    outputs = pd.read_csv(out / "outputs.csv")
    assert outputs.tiled[0] > 0 and (outputs.height[0], outputs.width[0]) == (70, 90)
    seconds = pd.read_csv(out / "scores.csv").value[0]
    # the failed whole-image attempt took a second; the tiled call that made the output, milliseconds
    assert seconds == pytest.approx(outputs.seconds[0]) and seconds < 0.5


@pytest.mark.slow
def test_figures_of_a_huge_output_work_from_bounded_crops(tmp_path):
    """8000x6000: the figure code must not convert the whole image to floats (1 GiB)."""
    from llebench.sdk import Context
    from llebench_reports.figures import figure_sections

    out = tmp_path / "run"
    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (6000, 8000, 3), dtype=np.uint8)).save(
        data / "huge.png", compress_level=1)
    assert run("--methods", "input,sleepy", "-o", "sleepy.delay=0", "--datasets", f"folder:{data}", "--metrics",
               "seconds", "--out", str(out), "--no-report") == 0
    run_results = RunResults.load(out)
    tracemalloc.start()
    sections = figure_sections(run_results, Context(data_root=tmp_path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sections and sections[0].rows[0].tiles[0].thumb.startswith("data:image/jpeg")
    # the input as the dataset gives it (float32, 576 MB) is all; no float64 copy of any whole image
    assert peak < 800e6, f"peak {peak / 1e6:.0f} MB"


def test_figure_memory_does_not_grow_with_the_number_of_methods(tmp_path):
    """Each picture of a figure row becomes its thumbnail, crop and histogram before the next is
    read: six methods need no more memory than one."""
    from llebench.sdk import Context
    from llebench_reports.figures import figure_sections

    data = photos(tmp_path / "data", ["wide.png"], size=(1600, 1200))
    out = tmp_path / "run"
    labels = [f"m{i}=sleepy" for i in range(6)]
    assert run("--methods", ",".join(labels), *sum((["-o", f"m{i}.delay=0"] for i in range(6)), []),
               "--datasets", f"folder:{data}", "--metrics", "mean", "--out", str(out), "--no-report") == 0
    results = RunResults.load(out)

    def peak_with(methods: int) -> int:
        kept = [f"m{i}" for i in range(methods)]
        view = RunResults(results.path, {**results.manifest, "methods": {m: results.manifest["methods"][m]
                                                                         for m in kept}},
                          results.scores[results.scores.method.isin(kept)], results.outputs)
        tracemalloc.start()
        sections = figure_sections(view, Context(data_root=tmp_path))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(sections[0].rows[0].tiles) == methods + 1
        return peak

    one, six = peak_with(1), peak_with(6)
    assert six < 1.2 * one, f"1 method: {one / 1e6:.0f} MB, 6 methods: {six / 1e6:.0f} MB"


def test_lock_file_is_released_on_exit_and_names_its_holder(tmp_path):
    lock = RunLock(tmp_path)
    lock.acquire()
    holder = json.loads((tmp_path / ".llebench.lock").read_text())
    assert holder["pid"] == os.getpid() and "started" in holder
    lock.release()
    with RunLock(tmp_path):  # free again
        pass
