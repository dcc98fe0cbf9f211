"""PairLIE (``pairlie``): parity with the official eval.py, weights, variants, options, tiling."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from llebench.cli import main
from llebench.sdk import (
    ChecksumMismatch, EnhanceRecord, LLEBenchError, Sample, WeightsNotFound, read_image, tiled, truncate_to_8_bits,
)
from llebench_pairlie.enhancer import PAIRLIE_WEIGHTS, PairLIE
from llebench_pairlie.network import RECEPTIVE_RADIUS, PairLIENet, reflect_pad1

GOLDEN_IDS = ("01", "12", "27")
#: the golden README's count (and SOURCES.md's)
PARAMETERS = 341_767


def run_cli(out: Path, methods: str, metrics: str, *extra: str) -> pd.DataFrame:
    args = ["run", "--methods", methods, "--datasets", "dicm", "--metrics", metrics, "--out", str(out),
            "--no-progress", "--no-report", *extra]
    assert main(args) == 0
    return pd.read_csv(out / "scores.csv", keep_default_na=False, dtype={"image": str})


def official_forward(state: dict[str, torch.Tensor], image: torch.Tensor, exponent: float = 0.2) -> torch.Tensor:
    """net/net.py + eval.py written out with the plain library ops, NCHW, on the raw state_dict."""
    def branch(name: str, x: torch.Tensor) -> torch.Tensor:
        for i, position in enumerate((1, 4, 7, 10, 13)):
            x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), state[f"{name}.{name}.{position}.weight"],
                         state[f"{name}.{name}.{position}.bias"])
            x = torch.relu(x) if i < 4 else torch.sigmoid(x)
        return x
    denoised = branch("N_net", image)
    return torch.pow(branch("L_net", denoised), exponent) * branch("R_net", denoised)


# -- the network --------------------------------------------------------------------------

def test_parameter_count_and_official_keys(shared_weights):
    raw = torch.load(shared_weights / "pairlie.pth", map_location="cpu", weights_only=True)
    net = PairLIENet()
    assert sum(p.numel() for p in net.parameters()) == PARAMETERS
    assert list(net.state_dict()) == list(raw)  # same names, same order: the file loads unchanged
    assert sum(p.numel() for p in PairLIE().network().parameters()) == PARAMETERS  # what `params` counts


@pytest.mark.parametrize("shape", [(1, 3, 2, 2), (1, 3, 5, 7), (2, 64, 9, 4), (1, 1, 3, 6)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_reflect_pad_is_bit_identical_to_the_library_ops(shape, channels_last, relu):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = F.pad(torch.relu(x) if relu else x, (1, 1, 1, 1), mode="reflect")
    assert torch.equal(reflect_pad1(x, relu), expected)


def test_forward_equals_the_official_ops_on_the_raw_state_dict(shared_weights, one_torch_thread):
    raw = torch.load(shared_weights / "pairlie.pth", map_location="cpu", weights_only=True)
    image = torch.rand(1, 3, 37, 52, generator=torch.Generator().manual_seed(2)) * 0.4
    enhancer = PairLIE()
    with torch.no_grad():
        expected = official_forward(raw, image)
        illumination, reflectance, denoised = enhancer.net(image)
    assert illumination.shape == (1, 1, 37, 52) and reflectance.shape == denoised.shape == (1, 3, 37, 52)
    assert (enhancer.enhance_float(image) - expected).abs().max() <= 1e-5
    assert 0 < float(expected.min()) and float(expected.max()) < 1  # "no clamp, but the result lies in (0,1)"


def test_saving_truncates_like_to_pil_image():
    values = torch.tensor([0.0, 0.5 / 255, 1 / 255, 0.99999, 200.7 / 255, 1.0]).view(1, 1, 2, 3)
    levels = (truncate_to_8_bits(values) * 255).round().flatten().tolist()
    assert levels == [0, 0, 1, 254, 200, 255]
    # k / 255 survives the runner's rounding: the PNG holds the truncated levels
    assert torch.equal(torch.floor(truncate_to_8_bits(values) * 255 + 0.5), truncate_to_8_bits(values) * 255)


# -- parity with the official outputs ------------------------------------------------------

@pytest.fixture(scope="module")
def golden_run(shared_data, shared_weights, golden_dir, tmp_path_factory):
    """The three images that have official outputs, run through the CLI (outputs, NIQE, params)."""
    root = tmp_path_factory.mktemp("pairlie")
    subset = root / "data" / "DICM"
    subset.mkdir(parents=True)
    for image_id in GOLDEN_IDS:
        (subset / f"{image_id}.jpg").symlink_to(shared_data / "DICM" / f"{image_id}.jpg")
    out = root / "run"
    scores = run_cli(out, "pairlie", "niqe,params", "--data-root", str(root / "data"))
    return out, scores


@pytest.mark.parametrize("image_id", GOLDEN_IDS)
def test_outputs_match_the_official_pngs(golden_run, golden_dir, image_id):
    out, _ = golden_run
    ours = np.asarray(Image.open(out / "images" / "pairlie" / "dicm" / f"{image_id}.png"), dtype=np.int16)
    theirs = np.asarray(Image.open(golden_dir / "official_outputs" / f"pairlie_DICM_{image_id}.png"), dtype=np.int16)
    assert ours.shape == theirs.shape
    diff = np.abs(ours - theirs)
    print(f"pairlie DICM {image_id}: max |diff| {diff.max()}, differing {np.mean(diff > 0):.2e}")
    assert diff.max() <= 1
    # float summation order only: measured 1.7e-5 to 2.5e-5; rounding instead of truncating would give ~0.25
    assert np.mean(diff > 0) < 1e-4


def test_golden_images_niqe_and_params(golden_run, golden_dir):
    _, scores = golden_run
    golden = pd.read_csv(golden_dir / "dicm_niqe_zoo.csv").set_index("image")["pairlie"]
    niqe = scores[scores.metric == "niqe"].set_index("image")["value"]
    assert len(niqe) == 3
    for image_id, value in niqe.items():
        assert abs(value - golden[image_id]) < 0.01, image_id
    assert set(scores[scores.metric == "params"]["value"]) == {PARAMETERS}
    assert set(scores["variant"]) == {""}  # the default is the published configuration: no variant named


#: DICM 63 (NIQE ~21.2, a bright input): its NIQE is chaotic in float noise. Flipping 20 of the
#: ~65 values that lie within 2e-5 of a truncation step (what a different CPU's summation order
#: flips; the golden PNGs differ from ours in 16-23 such values per image) moves NIQE by -0.03
#: to +0.05. eval.py's own ops on this CPU give 21.206, ours 21.203, float64 21.191; the golden
#: is 21.254. So 63 is held to the spread of float noise, every other image to 0.01 (README).
IMAGE_63_TOLERANCE = 0.06


@pytest.mark.slow
def test_dicm_niqe_all_64_images(shared_data, shared_weights, golden_dir, tmp_path):
    scores = run_cli(tmp_path / "run", "pairlie", "niqe")
    golden = pd.read_csv(golden_dir / "dicm_niqe_zoo.csv")[["image", "pairlie"]]
    merged = golden.merge(scores[scores.metric == "niqe"], on="image").set_index("image")
    assert len(merged) == 64 and (merged["status"] == "ok").all()
    diff = (merged["value"] - merged["pairlie"]).abs()
    others = diff.drop("63.jpg")
    print(f"pairlie DICM NIQE: max |diff| {diff.max():.5f} ({diff.idxmax()}), without 63 {others.max():.5f}; "
          f"mean |diff| {diff.mean():.5f}; mean {merged['value'].mean():.4f} (golden {merged['pairlie'].mean():.4f})")
    assert others.max() < 0.01
    assert merged.loc["63.jpg", "value"] > 21 and diff["63.jpg"] < IMAGE_63_TOLERANCE
    assert abs(merged["value"].mean() - merged["pairlie"].mean()) < 0.001  # golden mean 4.2756
    assert abs(merged["value"].median() - merged["pairlie"].median()) < 0.001  # golden median 3.6957


@pytest.mark.slow
def test_image_63_matches_the_official_ops_up_to_float_noise(shared_data, shared_weights, golden_dir, plugins):
    """Our output on DICM 63 and eval.py's ops (NCHW, F.pad, this CPU) differ by float noise only,
    and both miss the golden NIQE by about the same amount: the gap is the golden machine's noise."""
    raw = torch.load(shared_weights / "pairlie.pth", map_location="cpu", weights_only=True)
    image = read_image(shared_data / "DICM" / "63.jpg")
    with torch.inference_mode():
        ours = PairLIE().enhance(image)
        theirs = official_forward(raw, image).mul(255).to(torch.uint8).float() / 255  # ToPILImage's truncation
    levels = (ours * 255 - theirs * 255).abs().round()
    assert levels.max() <= 1 and float((levels > 0).float().mean()) < 1e-4
    niqe = plugins.get("metrics", "niqe")()
    record = EnhanceRecord(0.0, "cpu", None)
    golden = pd.read_csv(golden_dir / "dicm_niqe_zoo.csv").set_index("image").loc["63.jpg", "pairlie"]
    values = {name: niqe.compute(output, Sample("63.jpg", image), record) for name, output in
              (("ours", ours), ("official ops", theirs))}
    print(f"DICM 63: {int((levels > 0).sum())} values differ by 1 level; NIQE {values} (golden {golden:.4f})")
    for value in values.values():
        assert abs(value - golden) < IMAGE_63_TOLERANCE


# -- weights -----------------------------------------------------------------------------

def test_tampered_weights_are_refused(shared_weights, tmp_path, monkeypatch):
    data = bytearray((shared_weights / "pairlie.pth").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "pairlie.pth").write_bytes(bytes(data))
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("LLEBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ChecksumMismatch, match="pairlie.pth"):
        PairLIE()


def test_missing_weights_offline_is_one_clear_message(isolated_weights):
    with pytest.raises(WeightsNotFound) as caught:
        PairLIE()
    message = str(caught.value)
    assert "pairlie.pth" in message and PAIRLIE_WEIGHTS.url in message and "LLEBENCH_WEIGHTS" in message
    assert "\n" not in message


def test_a_users_own_checkpoint(shared_weights, tmp_path):
    state = torch.load(shared_weights / "pairlie.pth", map_location="cpu", weights_only=True)
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "mine.pth")
    assert PairLIE(weights=tmp_path / "mine.pth").weights_used().keys() == {"mine.pth"}
    torch.save({"model": {"conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(LLEBenchError, match="not a PairLIE state_dict"):
        PairLIE(weights=tmp_path / "other.pth")


# -- variants and options ----------------------------------------------------------------

def test_every_variant_runs_and_is_named_in_scores(shared_weights, tmp_path, one_torch_thread):
    data = tmp_path / "data" / "DICM"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray((rng.random((20, 28, 3)) * 90).astype(np.uint8)).save(data / f"{name}.png")
    methods = "pairlie,p_lol=pairlie,p_exp=pairlie,p_bf16=pairlie,p_fp16=pairlie"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # emulated bf16/fp16 warn on this CPU (tested below)
        scores = run_cli(tmp_path / "run", methods, "params", "--data-root", str(tmp_path / "data"),
                         "-o", "p_lol.variant=lol", "-o", "p_exp.exponent=0.3", "-o", "p_bf16.precision=bf16",
                         "-o", "p_fp16.precision=fp16")
    variants = scores.groupby("method")["variant"].agg(set).to_dict()
    assert variants == {"pairlie": {""}, "p_lol": {"lol"}, "p_exp": {"default+exponent=0.3"},
                        "p_bf16": {"default+bf16"}, "p_fp16": {"default+fp16"}}
    assert (scores["status"] == "ok").all() and len(scores) == 10
    assert set(PairLIE.variants) == {"default", "lol"} and PairLIE.variants[0] == "default"


def test_the_lol_exponent_and_explicit_exponents(shared_weights, one_torch_thread):
    image = torch.rand(1, 3, 24, 30, generator=torch.Generator().manual_seed(3)) * 0.3
    default, lol, same = PairLIE(), PairLIE(variant="lol"), PairLIE(exponent=0.14)
    assert (default.exponent, lol.exponent, same.exponent) == (0.2, 0.14, 0.14)
    assert lol.variant == "lol" and same.variant == "default+exponent=0.14"
    assert PairLIE(variant="lol", exponent=0.2).variant == "lol+exponent=0.2"
    assert PairLIE(exponent=1).settings()["exponent"] == 1.0
    with torch.inference_mode():
        illumination, reflectance, _ = default.net(image)
        assert torch.equal(lol.enhance_float(image), torch.pow(illumination, 0.14) * reflectance)
        assert torch.equal(same.enhance(image), lol.enhance(image))
        assert float(lol.enhance_float(image).mean()) > float(default.enhance_float(image).mean())  # L < 1


@pytest.mark.parametrize(("options", "match"), [
    ({"variant": "LOL"}, "variant must be one of default, lol"),
    ({"exponent": -0.1}, "exponent must be a number >= 0"),
    ({"exponent": float("nan")}, "exponent must be a number >= 0"),
    ({"exponent": "0.2"}, "exponent must be a number >= 0"),
    ({"exponent": True}, "exponent must be a number >= 0"),
    ({"precision": "fp8"}, "precision must be one of fp32, bf16, fp16"),
    ({"tile": 0}, "tile must be a positive number"),
    ({"tile": 12.5}, "tile must be a positive number"),
])
def test_bad_options_are_clear_errors(shared_weights, options, match):
    with pytest.raises(LLEBenchError, match=match):
        PairLIE(**options)


def test_unknown_options_and_tiny_images(shared_weights):
    with pytest.raises(TypeError):
        PairLIE(gamma=0.2)
    with pytest.raises(LLEBenchError, match="at least 2 pixels"), torch.inference_mode():
        PairLIE().enhance(torch.rand(1, 3, 1, 40))


@pytest.mark.parametrize("native", [True, False])
def test_half_precision_warns_where_it_is_emulated(shared_weights, native, monkeypatch):
    import llebench.precision  # the SDK's check_precision, which PairLIE calls

    monkeypatch.setattr(llebench.precision, "native_cpu_support", lambda precision: native)
    for precision in ("bf16", "fp16"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            PairLIE(precision=precision)
        emulated = [w for w in caught if f"no native {precision}" in str(w.message)]
        assert len(emulated) == (0 if native else 1)


def test_half_precision_is_close_to_fp32(shared_data, shared_weights, one_torch_thread):
    image = read_image(shared_data / "DICM" / "12.jpg")[..., 100:164, 200:280]
    with torch.inference_mode():
        reference = PairLIE().enhance(image)
    for precision in ("bf16", "fp16"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            half = PairLIE(precision=precision)
        with torch.inference_mode():
            output = half.enhance(image)
        assert output.dtype == torch.float32 and output.shape == reference.shape
        mse = float(((output - reference) ** 2).mean())
        psnr = 10 * np.log10(1 / mse)
        print(f"pairlie {precision}: PSNR {psnr:.1f} dB against fp32 (8-bit outputs)")
        assert 0 < mse and psnr >= 45, precision


# -- tiling (high resolution) ----------------------------------------------------------

@pytest.mark.parametrize(("size", "tile"), [((45, 61), 16), ((37, 23), 7), ((2, 30), 4), ((40, 40), 40)])
def test_tiles_equal_the_whole_image(shared_weights, size, tile, one_torch_thread):
    """Ten stacked reflection-padded 3x3 convolutions: with a 10 px halo of real context inside the
    image, and the image border padded by reflection as in the whole pass, tiles are exact."""
    enhancer = PairLIE()
    image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(1)) * 0.4
    with torch.inference_mode():
        whole = enhancer.enhance_float(image)
        pieces = tiled(enhancer.enhance_float, image, tile, PairLIE.tile_halo)
    assert PairLIE.tile_halo == RECEPTIVE_RADIUS == 10
    assert (pieces - whole).abs().max() <= 1e-6


def test_a_smaller_halo_is_not_exact_and_the_tile_option(shared_weights, one_torch_thread):
    enhancer = PairLIE()
    image = torch.rand(1, 3, 45, 61, generator=torch.Generator().manual_seed(1)) * 0.4
    with torch.inference_mode():
        whole = enhancer.enhance_float(image)
        too_small = tiled(enhancer.enhance_float, image, 16, RECEPTIVE_RADIUS - 1)
        saved, saved_tiled = enhancer.enhance(image), PairLIE(tile=16).enhance(image)
    assert (too_small - whole).abs().max() > 1e-4  # the seams show: the check above is not vacuous
    # the tile option: the same 8-bit output, up to a level where float rounding meets a truncation step
    assert (saved_tiled - saved).abs().max() <= 1.5 / 255 and float((saved_tiled != saved).float().mean()) < 1e-3


def test_flops_count_the_convolutions(plugins, shared_weights, one_torch_thread):
    enhancer = PairLIE()
    flops = plugins.get("metrics", "flops")(height=16, width=20)
    record = EnhanceRecord(0.0, "cpu", enhancer, size=(16, 20))
    value = flops.compute(torch.zeros(1, 3, 16, 20), Sample("x", torch.zeros(1, 3, 16, 20)), record)
    biases = 4 * 64 * 3 + 1 + 3 + 3
    assert value == pytest.approx(2 * (PARAMETERS - biases) * 16 * 20 / 1e9)
