"""The metric zoo: pyiqa short names and pyiqa:<name>, LOE, gt-mean variants, efficiency."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from llebench.api import Enhancer, EnhanceRecord, Sample
from llebench.cli import main
from llebench.errors import LLEBenchError
from llebench.images import write_png
from llebench_metrics import efficiency, loe
from llebench_metrics.gtmean import grey_mean, scale_to_reference_mean
from llebench_metrics.pyiqa_bridge import (
    PSNR, PYIQA_MODES, SHORT_NAMES, SSIM, SSIMRGB, PSNRGTMean, PyiqaByName, SSIMGTMean,
)
from llebench.pyiqa_bridge.files import PYIQA_FILES


def run(tmp_path, *args):
    out = tmp_path / "run"
    code = main(["run", "--out", str(out), "--no-progress", "--no-report", *args])
    scores = pd.read_csv(out / "scores.csv") if (out / "scores.csv").exists() else None
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").exists() else None
    return code, scores, manifest


# -- pyiqa: names, directions, files ------------------------------------------------------

def test_short_names_agree_with_pyiqa_defaults():
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    for cls in SHORT_NAMES:
        config = DEFAULT_CONFIGS[cls.pyiqa_name]
        assert cls.kind == PYIQA_MODES[config["metric_mode"]], cls.name
        assert cls.lower_better == config.get("lower_better", False), cls.name


def test_declared_files_are_the_ones_pyiqa_and_torchvision_download():
    from pyiqa.archs import brisque_arch, lpips_arch, musiq_arch, niqe_arch, unique_arch
    from torchvision.models import AlexNet_Weights, ResNet34_Weights, VGG16_Weights

    urls = {name: {f.url for f in files} for name, files in PYIQA_FILES.items()}
    assert urls == {
        "niqe": {niqe_arch.default_model_urls["url"]},
        "brisque": {brisque_arch.default_model_urls["url"]},
        "unique": {unique_arch.default_model_urls["mix"], ResNet34_Weights.IMAGENET1K_V1.url},
        "musiq": {musiq_arch.default_model_urls["koniq10k"]},
        "lpips": {lpips_arch.default_model_urls["0.1_alex"], AlexNet_Weights.IMAGENET1K_V1.url},
        "lpips-vgg": {lpips_arch.default_model_urls["0.1_vgg"], VGG16_Weights.IMAGENET1K_V1.url},
    }
    for files in PYIQA_FILES.values():
        for spec in files:
            assert spec.url.endswith("/" + spec.filename)


def test_pyiqa_by_name_is_the_same_metric_as_the_short_name(isolated_weights, tmp_path):
    code, scores, manifest = run(tmp_path, "--methods", "input", "--datasets", "sample", "--limit", "1",
                                 "--metrics", "pyiqa:psnr,psnr")
    assert code == 0
    values = scores.set_index("metric").value
    assert values["pyiqa:psnr"] == values["psnr"]
    entry = manifest["metrics"]["pyiqa:psnr"]
    assert entry["name"] == "pyiqa" and entry["kind"] == "full-reference" and entry["lower_better"] is False
    assert "create_metric('psnr')" in entry["settings"]["implementation"]
    # SSIM on RGB: the short name and pyiqa's name agree (small images: pyiqa's SSIM is slow on CPU)
    generator = torch.Generator().manual_seed(2)
    reference = torch.rand(1, 3, 40, 40, generator=generator)
    output = (reference + 0.1 * torch.rand(1, 3, 40, 40, generator=generator)).clamp(0, 1)
    sample, record = Sample(id="x", input=output, reference=reference), EnhanceRecord(0.0, "cpu")
    by_name = PyiqaByName(arg="ssimc")
    assert by_name.compute(output, sample, record) == SSIMRGB().compute(output, sample, record)
    assert by_name.compute(output, sample, record) != SSIM().compute(output, sample, record)  # Y differs


def test_pyiqa_by_name_direction_and_kind_decide_scoring(isolated_weights, tmp_path):
    # on a folder without references: pyiqa:gmsd (full-reference, lower better) is skipped,
    # pyiqa:piqe (no-reference, lower better) is scored; both directions come from pyiqa
    folder = tmp_path / "photos"
    write_png(torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0)), folder / "a.png")
    code, scores, manifest = run(tmp_path, "--methods", "input", "--datasets", f"folder:{folder}",
                                 "--metrics", "pyiqa:gmsd,pyiqa:piqe")
    assert code == 0
    assert list(scores.metric) == ["pyiqa:piqe"]
    assert manifest["metrics"]["pyiqa:gmsd"]["kind"] == "full-reference"
    assert manifest["metrics"]["pyiqa:gmsd"]["lower_better"] is True
    assert manifest["metrics"]["pyiqa:piqe"]["lower_better"] is True


def test_pyiqa_by_name_missing_files_are_all_named(isolated_weights, tmp_path):
    code, _, manifest = run(tmp_path, "--methods", "input", "--datasets", "sample", "--limit", "1",
                            "--metrics", "pyiqa:lpips-vgg")
    assert code == 1
    error = manifest["metrics"]["pyiqa:lpips-vgg"]["error"]
    assert "LPIPS_v0.1_vgg-a78928a0.pth" in error and "vgg16-397923af.pth" in error


def test_unknown_pyiqa_name_and_missing_name_are_config_errors(tmp_path, capsys):
    assert main(["run", "--methods", "input", "--metrics", "pyiqa:no_such_metric", "--out", str(tmp_path / "a")]) == 2
    assert "pyiqa has no metric 'no_such_metric'" in capsys.readouterr().err
    assert main(["run", "--methods", "input", "--metrics", "pyiqa", "--out", str(tmp_path / "b")]) == 2
    assert "pyiqa:NAME" in capsys.readouterr().err
    assert main(["run", "--methods", "input", "--metrics", "psnr:x", "--out", str(tmp_path / "c")]) == 2
    assert "takes no ':' argument" in capsys.readouterr().err


def test_missing_files_fail_their_metric_only_naming_file_and_url(isolated_weights, tmp_path):
    code, scores, manifest = run(tmp_path, "--methods", "input", "--datasets", "sample", "--limit", "1",
                                 "--metrics", "niqe,brisque,unique,psnr,loe")
    assert code == 1
    by_metric = scores.set_index("metric")
    assert by_metric.loc["psnr", "status"] == "ok" and by_metric.loc["loe", "status"] == "ok"
    for metric, files in {"niqe": PYIQA_FILES["niqe"], "brisque": PYIQA_FILES["brisque"],
                          "unique": PYIQA_FILES["unique"]}.items():
        assert by_metric.loc[metric, "status"] == "failed"
        for spec in files:  # every missing file of the metric is named, with its URL
            assert spec.filename in by_metric.loc[metric, "error"] and spec.url in by_metric.loc[metric, "error"]
            assert str(isolated_weights) in by_metric.loc[metric, "error"]


def test_niqe_uses_the_real_parameter_file(shared_data, shared_weights, golden_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LLEBENCH_OFFLINE", "1")
    code, scores, manifest = run(tmp_path, "--methods", "input", "--datasets", "dicm", "--limit", "1",
                                 "--metrics", "niqe")
    assert code == 0
    golden = pd.read_csv(golden_dir / "dicm_niqe_reference.csv")
    expected = golden[(golden.method == "input") & (golden.image == scores.image[0])].value.item()
    assert scores.value[0] == pytest.approx(expected, abs=1e-4)
    files = manifest["metrics"]["niqe"]["settings"]["files"]
    assert files == {"niqe_modelparameters.mat": PYIQA_FILES["niqe"][0].sha256}


# -- acceptance: niqe, brisque, loe offline -------------------------------------------------

@pytest.mark.parametrize("method", ["lime", "zero_dce"])
def test_acceptance_offline_run_scores_what_it_can(method, shared_data, shared_weights, tmp_path, monkeypatch):
    """The issue's ``llebench run --methods input,lime --datasets dicm --metrics niqe,brisque,loe``."""
    monkeypatch.setenv("LLEBENCH_OFFLINE", "1")
    code, scores, _ = run(tmp_path, "--methods", f"input,{method}", "--datasets", "dicm", "--limit", "1",
                          "--metrics", "niqe,brisque,loe")
    assert code == 1  # brisque's file is not in ../shared/weights
    ok = scores[scores.status == "ok"].set_index(["method", "metric"]).value
    assert set(ok.index) == {(m, x) for m in ("input", method) for x in ("niqe", "loe")}
    assert ok["input", "loe"] == 0 and ok[method, "loe"] > 0
    failed = scores[scores.status == "failed"]
    assert set(failed.metric) == {"brisque"}
    assert failed.error.str.contains("brisque_svm_weights.pth").all()
    assert failed.error.str.contains(PYIQA_FILES["brisque"][0].url, regex=False).all()


# -- LOE -------------------------------------------------------------------------------------

def brute_force_loe(a: torch.Tensor, b: torch.Tensor) -> float:
    """The definition, pair by pair."""
    a, b = a.flatten().tolist(), b.flatten().tolist()
    n = len(a)
    return sum((a[x] >= a[y]) != (b[x] >= b[y]) for x in range(n) for y in range(n)) / n


def levels(rows):
    return torch.tensor(rows, dtype=torch.float64)[None, None]


def test_loe_hand_computed_cases():
    light = levels([[10, 20], [30, 40]])
    assert loe.lightness_order_error(light, light) == 0
    assert loe.lightness_order_error(light, light * 2 + 5) == 0  # order kept
    # reversed order: every pair of the 4 distinct pixels disagrees: RD = 3 everywhere
    assert loe.lightness_order_error(light, 255 - light) == 3
    # out: 10, 20, 40, 30 (two pixels swap): x=30 and x=40 disagree with each other only
    # RD = (0, 0, 1, 1) -> mean 0.5
    assert loe.lightness_order_error(light, levels([[10, 20], [40, 30]])) == 0.5
    # a tie created: out 10, 20, 20, 40 -> the pair (20, 30)->(20, 20): pixel 20 gains
    # "20 >= 20" for y = the old 30, RD = (0, 1, 0, 0) -> 0.25
    assert loe.lightness_order_error(light, levels([[10, 20], [20, 40]])) == 0.25


def test_loe_counting_matches_the_pairwise_definition():
    generator = torch.Generator().manual_seed(3)
    for high in (4, 256):  # many ties, then few
        a = torch.randint(0, high, (1, 1, 9, 7), generator=generator).double()
        b = torch.randint(0, high, (1, 1, 9, 7), generator=generator).double()
        assert loe.lightness_order_error(a, b) == pytest.approx(brute_force_loe(a, b))


def test_loe_refuses_non_level_maps():
    with pytest.raises(LLEBenchError, match="integer levels"):
        loe.lightness_order_error(levels([[0.5]]), levels([[1]]))


def test_npe_downsampled_size_rounds_like_matlab():
    assert loe.npe_size(640, 480) == (67, 50)
    assert loe.npe_size(100, 150) == (50, 75)
    assert loe.npe_size(100, 101) == (50, 51)  # 50.5 rounds up (Python's round would give 50)
    assert loe.npe_size(202, 101) == (100, 50)


def test_loe_metric_on_images():
    generator = torch.Generator().manual_seed(0)
    image = torch.round(torch.rand(1, 3, 60, 90, generator=generator) * 255) / 255
    sample = Sample(id="x", input=image)
    record = EnhanceRecord(0.0, "cpu")
    metric, lime_variant = loe.LOE(), loe.LOELIME()
    assert metric.compute(image, sample, record) == 0
    assert metric.target_size(60, 90) == (50, 75) and lime_variant.target_size(60, 90) == (100, 100)
    inverted = metric.compute(1 - image, sample, record)
    # lightness max(R,G,B) of 1 - x is 1 - min(R,G,B): the order is mostly, not exactly, reversed
    assert 0.5 * 50 * 75 < inverted < 50 * 75
    assert lime_variant.compute(image, sample, record) == 0
    assert metric.settings()["downsampled_to"].startswith("ratio 50/min")


def test_npe_code_variant_local_max_and_sampling_by_hand():
    spot = torch.zeros(1, 1, 20, 20, dtype=torch.float64)
    spot[..., 10, 3] = 9
    spread = loe.local_max(spot, radius=7)
    # rows 3..17 and columns 0..10 see the spot; mirrored across the left border it also
    # reaches column 0 from x = -3 (already inside), nothing wraps to the right
    assert torch.equal(spread[0, 0].nonzero()[:, 0].unique(), torch.arange(3, 18))
    assert torch.equal(spread[0, 0].nonzero()[:, 1].unique(), torch.arange(0, 11))
    grid = torch.arange(100 * 150, dtype=torch.float64).view(1, 1, 100, 150)
    sampled = loe.every_step(grid)  # step = floor(100 / 50) = 2: MATLAB pixels (2i, 2j)
    assert sampled.shape[-2:] == (50, 75)
    assert sampled[0, 0, 0, 0] == grid[0, 0, 1, 1] and sampled[0, 0, -1, -1] == grid[0, 0, 99, 149]
    image = torch.round(torch.rand(1, 3, 64, 80, generator=torch.Generator().manual_seed(4)) * 255) / 255
    metric = loe.LOENPECode()
    record = EnhanceRecord(0.0, "cpu")
    assert metric.compute(image, Sample(id="x", input=image), record) == 0
    assert metric.compute(image.flip(-1), Sample(id="x", input=image), record) > 0


# -- gt-mean variants ----------------------------------------------------------------------

def test_scale_to_reference_mean_by_hand():
    output = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    reference = torch.full((1, 3, 2, 2), 0.5)
    # grey(output) = 0.299*0.2 + 0.587*0.4 + 0.114*0.6 = 0.363
    assert float(grey_mean(output)) == pytest.approx(0.363)
    scaled = scale_to_reference_mean(output, reference)
    assert torch.allclose(scaled[0, :, 0, 0], torch.tensor([0.2, 0.4, 0.6]) * 0.5 / 0.363)
    bright = scale_to_reference_mean(torch.full((1, 3, 2, 2), 0.1), torch.full((1, 3, 2, 2), 0.9))
    assert torch.allclose(bright, torch.full((1, 3, 2, 2), 0.9))
    clipped = scale_to_reference_mean(torch.tensor([0.1, 0.5, 0.1]).view(1, 3, 1, 1), torch.full((1, 3, 1, 1), 0.9))
    assert float(clipped.max()) == 1.0
    with pytest.raises(LLEBenchError, match="black"):
        scale_to_reference_mean(torch.zeros(1, 3, 2, 2), reference)


def test_gtmean_metrics_score_the_adjusted_output():
    generator = torch.Generator().manual_seed(1)
    reference = torch.rand(1, 3, 32, 32, generator=generator)
    output = (reference * 0.4 + 0.05 * torch.rand(1, 3, 32, 32, generator=generator)).clamp(0, 1)
    sample = Sample(id="x", input=output, reference=reference)
    record = EnhanceRecord(0.0, "cpu")
    adjusted = scale_to_reference_mean(output, reference)
    assert PSNRGTMean().compute(output, sample, record) == pytest.approx(PSNR().compute(adjusted, sample, record))
    assert SSIMGTMean().compute(output, sample, record) == pytest.approx(SSIM().compute(adjusted, sample, record))
    assert PSNRGTMean().compute(output, sample, record) > PSNR().compute(output, sample, record) + 3
    assert "gt_mean" in PSNRGTMean().settings() and "gt_mean" not in PSNR().settings()


# -- efficiency ------------------------------------------------------------------------------

class OneConv(Enhancer):
    name = "one_conv"

    def __init__(self, context=None) -> None:
        super().__init__(context)
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.calls = 0

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.sigmoid(self.conv(image))


class NoNetwork(Enhancer):
    name = "no_network"

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        return image


def test_params_and_flops_by_hand():
    enhancer = OneConv()
    record = EnhanceRecord(0.0, "cpu", enhancer)
    sample = Sample(id="x", input=torch.rand(1, 3, 8, 8))
    assert efficiency.Params().compute(sample.input, sample, record) == 3 * 3 * 3 * 3 + 3
    flops = efficiency.FLOPs(height=8, width=10)
    # each output value: 27 multiply-adds = 54 FLOPs; 3 x 8 x 10 outputs
    assert flops.compute(sample.input, sample, record) == pytest.approx(54 * 3 * 8 * 10 / 1e9)
    assert enhancer.calls == 1
    flops.compute(sample.input, sample, record)
    assert enhancer.calls == 1  # once per method
    assert flops.settings()["input"] == "1x3x8x10, all 0.5"


def test_params_need_a_network():
    assert NoNetwork().network() is None
    record = EnhanceRecord(0.0, "cpu", NoNetwork())
    sample = Sample(id="x", input=torch.rand(1, 3, 4, 4))
    with pytest.raises(LLEBenchError, match="no torch network"):
        efficiency.Params().compute(sample.input, sample, record)
    with pytest.raises(LLEBenchError, match="did not say which method"):
        efficiency.Params().compute(sample.input, sample, EnhanceRecord(0.0, "cpu"))


def test_seconds_median_warms_up_then_repeats():
    enhancer = OneConv()
    sample = Sample(id="x", input=torch.rand(1, 3, 8, 8))
    metric = efficiency.SecondsMedian(warmup=2, repeats=3)
    value = metric.compute(sample.input, sample, EnhanceRecord(0.0, "cpu", enhancer))
    assert enhancer.calls == 5 and value > 0
    assert metric.settings()["repeats"] == 3
    with pytest.raises(LLEBenchError, match="repeats >= 1"):
        efficiency.SecondsMedian(repeats=0)
    with pytest.raises(LLEBenchError, match="WIDTHxHEIGHT"):
        efficiency.SecondsMedian(size="big")


def test_params_of_zero_dce_through_the_runner(shared_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("LLEBENCH_OFFLINE", "1")
    code, scores, manifest = run(tmp_path, "--methods", "zero_dce", "--datasets", "sample", "--limit", "2",
                                 "--metrics", "params,seconds")
    assert code == 0
    params = scores[scores.metric == "params"].value
    assert (params == 79416).all() and len(params) == 2  # SOURCES.md: 79,416 parameters
    assert manifest["metrics"]["params"]["kind"] == "efficiency"


def test_docs_document_every_metric_and_file(plugins):
    from pathlib import Path

    docs = Path(__file__).parents[1] / "docs"
    metrics = (docs / "metrics.md").read_text()
    table = metrics[:metrics.index("<!-- section:metrics -->")]
    for name in plugins.provided_by("metrics")["metrics"]:
        assert f"| `{name}" in table, name
    running = (docs / "running.md").read_text()
    weights = running[running.index("<!-- section:weights -->"):]
    for files in PYIQA_FILES.values():
        for spec in files:
            assert f"| `{spec.filename}` |" in weights and spec.url in weights
