"""Faults: broken methods, out-of-memory (tiled fallback), full or read-only disks, training kills."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
from llebench_dcenet.dcenet import RECEPTIVE_RADIUS, DCENet
from llebench_reports.leaderboard import Leaderboard
from PIL import Image
from throwaway import ThrowawayPlugin

from llebench.sdk import hookimpl
from llebench.api import Enhancer
from llebench.cli import main
from llebench.errors import EnhancementError, OutputNotWritable
from llebench.plugins import load_plugins
from llebench.components import ComponentSpec
from llebench.runner import Runner, RunPlan
from llebench.results import SCORE_KEY, RunResults
from llebench.tiling import MIN_TILE, enhance_with_fallback, is_out_of_memory, tiled

HELPERS = Path(__file__).parent / "reliability_plugins"


def load_helpers():
    """The test-only plugins of tests/reliability_plugins, plus the throwaway ones."""
    return load_plugins(plugins_dirs=[HELPERS], extra=[("throwaway", ThrowawayPlugin())])


@pytest.fixture(scope="module")
def helpers():
    return load_helpers()


def image_folder(folder: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    folder.mkdir(parents=True)
    generator = torch.Generator().manual_seed(3)
    for name, (height, width) in sizes.items():
        pixels = (torch.rand(height, width, 3, generator=generator) * 200).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / name)
    return folder


def run_plan(out: Path, methods: list[str], datasets: list[str], metrics: list[str]) -> RunPlan:
    return RunPlan(methods=[ComponentSpec.parse(m) for m in methods], datasets=[ComponentSpec.parse(d) for d in datasets],
                   metrics=[ComponentSpec.parse(m) for m in metrics], out=out)


def read_scores(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "scores.csv", keep_default_na=False)


# -- tiled inference ------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "tile"), [((37, 23), 5), ((37, 23), 16), ((1, 1), 4), ((3, 5), 2), ((40, 40), 40)])
def test_tiled_dcenet_equals_untiled_on_odd_sizes(size, tile):
    """DCE-Net's 15x15 receptive field: tiles with a 7 px halo give the untiled output."""
    torch.manual_seed(0)
    net = DCENet().eval()  # the architecture decides exactness; any weights will do
    image = torch.rand(1, 3, *size) * 0.5
    with torch.inference_mode():
        whole = net(image)[0]
        pieces = tiled(lambda x: net(x)[0], image, tile, RECEPTIVE_RADIUS)
    assert pieces.shape == whole.shape
    assert (pieces - whole).abs().max() <= 1e-6


def test_a_halo_smaller_than_the_receptive_field_is_not_exact():
    """The check above can fail: with a 6 px halo the tile seams show."""
    torch.manual_seed(0)
    net = DCENet().eval()
    image = torch.rand(1, 3, 37, 23)
    with torch.inference_mode():
        whole = net(image)[0]
        pieces = tiled(lambda x: net(x)[0], image, 8, RECEPTIVE_RADIUS - 1)
    assert (pieces - whole).abs().max() > 1e-5  # 50x the float rounding of the exact case


def test_dcenet_tile_option_matches_untiled(shared_weights):
    from llebench_dcenet.enhancers import ZeroDCE

    image = torch.rand(1, 3, 45, 61, generator=torch.Generator().manual_seed(1)) * 0.4
    with torch.inference_mode():
        enhancer = ZeroDCE()
        whole = enhancer.enhance(image)
        pieces = ZeroDCE(tile=16).enhance(image)
        too_small = tiled(enhancer.enhance, image, 16, 6)
    assert ZeroDCE.tile_halo == 7
    assert (pieces - whole).abs().max() <= 1e-6
    assert (too_small - whole).abs().max() > 1e-3


def test_out_of_memory_is_recognised():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


@pytest.mark.parametrize("error", ["torch", "cpu", "python"])
def test_oom_falls_back_to_tiles_with_the_untiled_result(helpers, error):
    plugins = helpers
    enhancer = plugins.get("enhancers", "oom_above")(limit=2500, error=error)
    reference = plugins.get("enhancers", "oom_above")(limit=10**9)
    image = torch.rand(1, 3, 70, 93, generator=torch.Generator().manual_seed(2))
    output, seconds, tile = enhance_with_fallback(enhancer, image)
    assert (output - reference.enhance(image)).abs().max() <= 1e-6
    assert seconds > 0 and tile is not None and tile < 93  # the tiled call's time and tile size are reported
    assert enhancer.calls[0] == (70, 93) and len(enhancer.calls) > 2  # whole image, then tiles
    assert all(h * w <= 2500 for h, w in enhancer.calls[-4:])


def test_oom_on_the_smallest_tiles_is_a_clear_error(helpers):
    plugins = helpers
    enhancer = plugins.get("enhancers", "oom_above")(limit=10)
    with pytest.raises(EnhancementError, match=f"out of memory even on {MIN_TILE} px tiles"):
        enhance_with_fallback(enhancer, torch.rand(1, 3, 80, 80))


def test_runner_tiles_after_oom_and_records_methods_that_cannot_tile(helpers, tmp_path):
    folder = image_folder(tmp_path / "images", {"big.png": (70, 90), "small.png": (20, 30)})
    out = tmp_path / "run"
    summary = Runner(helpers, run_plan(out, ["oom_above", "oom_no_halo"], [f"folder:{folder}"], ["mean"]),
                     progress=False).run()
    scores = read_scores(out).set_index(["method", "image"])
    assert (scores.loc["oom_above"].status == "ok").all()  # the big image was tiled
    assert scores.loc[("oom_no_halo", "small.png"), "status"] == "ok"
    failed = scores.loc[("oom_no_halo", "big.png")]
    assert failed.status == "failed" and "out of memory" in failed.error and "big.png" in failed.error
    assert [f.image for f in summary.failures] == ["big.png"]


# -- faulty methods, marked in the report ------------------------------------------------------

class InfOnB(Enhancer):
    """+Inf on image 'b' (the throwaway Faulty method covers raise, NaN and wrong shape)."""

    name = "inf_on_b"

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        if round(float(image[0, 0, 0, 0]) * 255) == 2:
            return torch.full_like(image, float("inf"))
        return image


class InfPlugin:
    @hookimpl
    def llebench_register_enhancers(self, register):
        register(InfOnB)


def test_method_faults_are_recorded_per_image_and_marked_in_the_report(tmp_path):
    plugins = load_plugins(extra=[("throwaway", ThrowawayPlugin()), ("inf", InfPlugin())])
    out = tmp_path / "run"
    Runner(plugins, run_plan(out, ["faulty", "inf_on_b", "brighten"], ["tiny"], ["mean_brightness"]),
           progress=False).run()
    scores = read_scores(out).set_index(["method", "image"])
    assert "boom on purpose" in scores.loc[("faulty", "b"), "error"]
    assert "NaN or Inf" in scores.loc[("faulty", "c"), "error"]
    assert "shape" in scores.loc[("faulty", "d"), "error"]
    assert "NaN or Inf" in scores.loc[("inf_on_b", "b"), "error"]
    for method, good in (("faulty", {"a"}), ("inf_on_b", {"a", "c", "d"}), ("brighten", {"a", "b", "c", "d"})):
        assert set(scores.loc[method].query("status == 'ok'").index) == good
    html = Leaderboard().render(RunResults.load(out))
    notes = dict(re.findall(r'<td class="method">(.*?)</td><td [^>]*title="([^"]*)"', html))
    assert "1 of 5 images; 4 of 5 images failed" in notes["faulty"]  # b, c, d and the unreadable e
    assert "3 of 5 images; 2 of 5 images failed" in notes["inf_on_b"]
    assert "4 of 5 images; 1 of 5 images failed" in notes["brighten"]
    assert html.count('<sup class="note">†</sup>') == 3


# -- full or read-only output directory -----------------------------------------------------------

def failing_after(calls: int, error: int, real):
    """A stand-in for an OS call that works ``calls`` times, then fails with ``error``."""
    count = {"n": 0}

    def fake(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise OSError(error, os.strerror(error))
        return real(*args, **kwargs)
    return fake


def comparable(out: Path) -> pd.DataFrame:
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False, dtype=str)
    assert not scores.duplicated(list(SCORE_KEY)).any()
    return scores.drop(columns="seconds").sort_values(list(SCORE_KEY)).reset_index(drop=True)


def test_disk_full_stops_with_a_clear_error_and_keeps_earlier_results(helpers, tmp_path, monkeypatch):
    plugins = helpers
    plan = run_plan(tmp_path / "run", ["brighten", "sleepy"], ["tiny"], ["mean_brightness", "abs_error"])
    reference = tmp_path / "reference"
    Runner(plugins, run_plan(reference, ["brighten", "sleepy"], ["tiny"], ["mean_brightness", "abs_error"]),
           progress=False).run()

    import llebench.store

    monkeypatch.setattr(llebench.store.os, "write", failing_after(5, errno.ENOSPC, os.write))
    with pytest.raises(OutputNotWritable, match="scores.csv: No space left on device; the results written so far"):
        Runner(plugins, plan, progress=False).run()
    monkeypatch.undo()
    kept = comparable(plan.out)  # the rows written before are intact: 3 scores (+2 outputs.csv rows)
    assert len(kept) == 3 and (kept.status == "ok").all()
    assert len(kept.merge(comparable(reference))) == 3  # equal to an uninterrupted run's rows
    assert (plan.out / "scores.csv").read_bytes().endswith(b"\n")

    Runner(plugins, plan, progress=False).run()  # space is back: the run completes
    pd.testing.assert_frame_equal(comparable(plan.out), comparable(reference))


def test_a_short_write_on_a_full_disk_leaves_no_torn_row(tmp_path, monkeypatch):
    from llebench.results import SCORE_COLUMNS
    from llebench.store import Journal

    path = tmp_path / "scores.csv"
    journal = Journal(path, SCORE_COLUMNS, SCORE_KEY)
    row = {"method": "m", "dataset": "d", "image": "i", "metric": "x", "value": 1.5, "status": "ok"}
    journal.append(row)
    before = path.read_bytes()
    real_write = os.write
    monkeypatch.setattr("llebench.store.os.write", lambda fd, data: real_write(fd, data[: len(data) // 2]))
    with pytest.raises(OutputNotWritable, match="short write"):
        journal.append({**row, "image": "j"})
    assert path.read_bytes() == before


def test_details_on_a_full_or_read_only_disk_are_a_clear_error_and_keep_the_old_file(tmp_path, monkeypatch):
    """Per-image arrays (Table 4's confusion matrices) are written like every other result."""
    import tempfile
    from types import SimpleNamespace

    import numpy as np

    import llebench.atomic
    from llebench.store import ResultsStore

    store = ResultsStore(tmp_path / "run")
    path = store.write_details("miou", "m", "d", "a.png", {"confusion": np.eye(3, dtype=np.int64)})
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OutputNotWritable, match=r"a\.png\.npz: No space left on device; the results written so far"):
        store.write_details("miou", "m", "d", "a.png", {"confusion": np.zeros((3, 3), dtype=np.int64)})
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["a.png.npz"]
    monkeypatch.undo()
    read_only = SimpleNamespace(mkstemp=failing_after(0, errno.EROFS, tempfile.mkstemp))
    monkeypatch.setattr(llebench.atomic, "tempfile", read_only)  # every atomic write creates its file there
    with pytest.raises(OutputNotWritable, match=r"b\.png\.npz: Read-only file system"):
        store.write_details("miou", "m", "d", "b.png", {"confusion": np.eye(3)})
    assert not (path.parent / "b.png.npz").exists()


def test_read_only_output_is_a_clear_cli_error(tmp_path, monkeypatch, capsys):
    """Tests run as root, so chmod cannot make a directory read-only: EROFS is simulated."""
    import llebench.atomic
    import llebench.images

    out = tmp_path / "run"
    args = ["run", "--plugins-dir", str(HELPERS), "--datasets", "sample", "--metrics", "mean",
            "--out", str(out), "--no-progress", "--no-report", "--limit", "2"]
    assert main([*args, "--methods", "sleepy"]) == 0
    before = (out / "scores.csv").read_bytes()
    def read_only(path, **options):  # the PNG writer only: the manifest still works
        raise OutputNotWritable.wrap(path, OSError(errno.EROFS, os.strerror(errno.EROFS)))

    monkeypatch.setattr(llebench.images, "atomic_writer", read_only)
    assert main([*args, "--methods", "sleepy,oom_above"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"error: cannot write .*\.png: Read-only file system; the results written so far are kept", err)
    assert "Traceback" not in err
    assert (out / "scores.csv").read_bytes() == before
