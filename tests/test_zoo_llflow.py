"""LLFlow (plugins/llebench_llflow): the network, the official test procedures and the
training recipe, against the golden data computed with the official code
(../shared/golden/llflow/README.md; seeded weights, no official checkpoint here)."""

from __future__ import annotations

import csv
import re
import shutil
from contextlib import nullcontext
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from llebench.cli import main
from llebench.images import read_image, to_uint8_array
from llebench.sdk import (
    LLEBenchError, RunConfigError, WeightsFormatError, WeightsNotFound, native_cpu_support, truncate_to_8_bits,
)
from llebench.training import TrainConfig, train
from llebench.training.checkpoint import load_checkpoint
from llebench_llflow import procedures
from llebench_llflow.enhancer import LLFlow
from llebench_llflow.network import SMALL, STANDARD, LLFlowNet, squeeze2d
from llebench_llflow.trainer import LLFlowTrainer, LoLTrainSet, official_learning_rate

REPO = Path(__file__).resolve().parents[1]
# one intra-op thread: on the small shared CPU, OpenMP threads waiting for each other make
# these networks 5-10x slower
pytestmark = pytest.mark.usefixtures("one_torch_thread")
PAIRS = ("small", "llflow_small_seed0.pth"), ("small_pert", "llflow_small_seed0_perturbed.pth")
CROPS = ("tl", "mid")


@pytest.fixture(scope="module")
def llflow_dir(golden_dir) -> Path:
    return golden_dir / "llflow"


@pytest.fixture(scope="module")
def golden(llflow_dir) -> dict[str, np.ndarray]:
    with np.load(llflow_dir / "llflow_golden.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def nets(llflow_dir) -> dict[str, LLFlowNet]:
    out = {}
    for prefix, filename in PAIRS:
        state = torch.load(llflow_dir / filename, map_location="cpu", weights_only=True)
        out[prefix] = LLFlowNet.from_state_dict(SMALL, state).eval()
    return out


def t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(array))


def official_keys(path: Path) -> list[tuple[str, tuple[int, ...], int]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        key, shape, numel = line.split("\t")
        rows.append((key, tuple(int(v) for v in shape.strip("()").split(",") if v.strip()), int(numel)))
    return rows


def layout(net: torch.nn.Module) -> list[tuple[str, tuple[int, ...], int]]:
    return [(key, tuple(value.shape), value.numel()) for key, value in net.state_dict().items()]


# -- architecture ------------------------------------------------------------------------------

@pytest.mark.parametrize("arch, filename, count", [(SMALL, "llflow_small_keys_shapes.txt", 5_429_849),
                                                   (STANDARD, "llflow_pc_keys_shapes.txt", 38_859_481)],
                         ids=["small", "standard"])
def test_state_dict_is_the_official_layout(llflow_dir, arch, filename, count):
    net = LLFlowNet(arch, initialise=False)  # the layout only (the standard net is 156 MB: not saved)
    assert layout(net) == official_keys(llflow_dir / filename)
    assert sum(p.numel() for p in net.parameters()) == count


def test_random_initialisation_is_the_official_one():
    net = LLFlowNet(SMALL, seed=0)
    state = net.state_dict()
    weight = state["flowUpsamplerNet.layers.3.invconv.weight"].double()
    assert torch.allclose(weight @ weight.T, torch.eye(12, dtype=torch.float64), atol=1e-6)  # a rotation
    zero = [k for k in state if ".actnorm." in k or re.search(r"\.f(Affine|Features)\.4\.", k)
            or re.match(r"RRDB\.RRDB_trunk\..*\.bias$", k)]
    assert len(zero) == 132 + 72 + 60  # ActNorms (set from data later), Conv2dZeros, dense-block biases
    assert all(float(state[k].abs().max()) == 0 for k in zero)
    assert float(state["flowUpsamplerNet.layers.3.affine.fAffine.0.weight"].std()) == pytest.approx(0.05, rel=0.05)


# -- golden tensors ----------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", [p for p, _ in PAIRS])
@pytest.mark.parametrize("crop", CROPS)
def test_encoder_latent_and_outputs_match_the_official_code(nets, golden, prefix, crop):
    net, key = nets[prefix], f"{prefix}_{crop}"
    with torch.no_grad():
        features = net.RRDB(t(golden[f"{key}_paired_lq"]))
        for name in ("color_map", "fea_up0", "fea_up1", "fea_up2"):
            assert torch.allclose(features[name], t(golden[f"{key}_enc_{name}"]), rtol=0, atol=1e-5), name
        # the paired output is the reverse flow of these features (what net(lq) computes)
        output = net.flowUpsamplerNet.decode(squeeze2d(features.pop("color_map"), 8), features)
        assert torch.allclose(output, t(golden[f"{key}_paired_out_f32"]), rtol=0, atol=1e-5)
        output = net(t(golden[f"{key}_unpaired_lq"]))
        assert torch.allclose(output, t(golden[f"{key}_unpaired_out_f32"]), rtol=0, atol=1e-5)
        nll, z, logdet = net(t(golden[f"{key}_train_LQ"]), t(golden[f"{key}_train_GT"]), gt_color_map=False)
        # the latent: |z| reaches 13.6 with the perturbed weights, where the golden's own float32
        # error against a float64 run is 2e-5 (ours 2.3e-5): within 1e-5 of its largest magnitude
        reference = t(golden[f"{key}_z"])
        assert float((z - reference).abs().max()) <= 1e-5 * float(reference.abs().max())
        assert torch.allclose(logdet, t(golden[f"{key}_logdet"]), rtol=1e-6, atol=0)
        assert torch.allclose(nll, t(golden[f"{key}_nll_enccmap"]), rtol=0, atol=1e-5)
        assert float(golden[f"{key}_loss_enccmap"]) == float(golden[f"{key}_nll_enccmap"][0])  # weight_fl = 1


@pytest.mark.parametrize("prefix", [p for p, _ in PAIRS])
def test_batch_loss_matches_the_official_code(nets, golden, prefix):
    lq = torch.cat([t(golden[f"{prefix}_{c}_train_LQ"]) for c in CROPS])
    gt = torch.cat([t(golden[f"{prefix}_{c}_train_GT"]) for c in CROPS])
    with torch.no_grad():
        for draw, gt_color_map in (("enccmap", False), ("gtcmap", True)):
            nll, _, _ = nets[prefix](lq, gt, gt_color_map=gt_color_map)
            assert torch.allclose(nll, t(golden[f"{prefix}_batch_nll_{draw}"]), rtol=0, atol=1e-5)
            assert abs(float(nll.mean()) - float(golden[f"{prefix}_batch_loss_{draw}"])) < 1e-5


def test_actnorm_initialisation_matches_the_official_code(llflow_dir, golden):
    state = torch.load(llflow_dir / "llflow_small_seed0.pth", map_location="cpu", weights_only=True)
    keys = [str(k) for k in golden["small_actnorm_keys"]]
    assert len(keys) == 132 and all(".actnorm." in k for k in keys)
    net = LLFlowNet.from_state_dict(SMALL, {k: torch.zeros_like(v) if k in keys else v for k, v in state.items()})
    net.train()
    lq = torch.cat([t(golden[f"small_{c}_train_LQ"]) for c in CROPS])
    gt = torch.cat([t(golden[f"small_{c}_train_GT"]) for c in CROPS])
    nll, _, _ = net(lq, gt, gt_color_map=False)
    assert abs(float(nll.detach().mean()) - float(golden["small_first_forward_loss_enccmap"])) < 1e-5
    initialised = {k: v.clone() for k, v in net.state_dict().items()}
    for key in keys:
        assert torch.allclose(initialised[key], state[key], rtol=0, atol=1e-5), key
    # initialised once: the next train-mode forward leaves them alone, and so does a loaded checkpoint
    net(lq[:1, :, :32, :32], gt[:1, :, :32, :32])
    assert all(torch.equal(net.state_dict()[k], initialised[k]) for k in keys)
    fresh = LLFlowNet.from_state_dict(SMALL, state).train()
    fresh(lq[:1, :, :32, :32], gt[:1, :, :32, :32])
    assert all(torch.equal(fresh.state_dict()[k], state[k]) for k in keys)


def test_the_nll_trains_the_parameters_it_should(golden):
    net = LLFlowNet(SMALL, seed=0).train()
    lq, gt = t(golden["small_tl_train_LQ"])[..., :32, :32], t(golden["small_tl_train_GT"])[..., :32, :32]
    nll, _, _ = net(lq, gt, gt_color_map=False)
    nll.mean().backward()
    with_grad = sum(p.numel() for p in net.parameters() if p.grad is not None)
    assert with_grad == int(golden["small_nparams_used_in_nll"]) == 4_967_635


# -- test procedures ---------------------------------------------------------------------------

def test_unpaired_padding_and_its_quirk():
    assert procedures.unpaired_padding(96, 128) == (8, 8, 8, 8)  # multiples of 16 still get 16 more
    assert procedures.unpaired_padding(400, 600) == (8, 8, 4, 4)
    assert procedures.unpaired_padding(481, 7) == (7, 8, 4, 5)
    rng = np.random.default_rng(0)
    for h, w in ((5, 3), (13, 17), (1, 1), (96, 128)):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        pad = procedures.unpaired_padding(h, w)
        expected = cv2.copyMakeBorder(image, *pad, cv2.BORDER_REFLECT)
        ours = procedures.pad_symmetric(t(image).permute(2, 0, 1)[None].float(), pad)
        assert np.array_equal(ours[0].permute(1, 2, 0).numpy().astype(np.uint8), expected), (h, w)


def test_network_inputs_match_the_official_scripts(llflow_dir, golden):
    for crop in CROPS:
        image = read_image(llflow_dir / f"input_{crop}_low.png")
        lq, pad = procedures.unpaired_input(image)
        assert pad == tuple(golden[f"small_{crop}_unpaired_pad"])
        assert torch.equal(lq, t(golden[f"small_{crop}_unpaired_lq"]))
        assert torch.equal(procedures.paired_input(image), t(golden[f"small_{crop}_paired_lq"]))
        reference = read_image(llflow_dir / f"input_{crop}_normal_gamma04.png")
        assert procedures.grey_mean_as_official(reference) == float(golden[f"small_{crop}_paired_mean_gt"])
    with pytest.raises(ValueError, match="multiples of 8"):
        procedures.paired_input(torch.zeros(1, 3, 100, 60))


def test_gt_mean_uses_the_official_grey_weights_on_rgb():
    reference = torch.zeros(1, 3, 8, 8)
    reference[:, 0] = 1.0  # pure red: the official BGR2GRAY on RGB weighs R by 0.114, not 0.299
    assert procedures.grey_mean_as_official(reference) == pytest.approx(0.114, abs=1e-6)


def test_truncation_survives_the_runners_rounding():
    values = torch.linspace(0, 1, 100_001).view(1, 1, 1, -1)
    levels = truncate_to_8_bits(values)
    assert torch.equal(torch.floor(levels * 255 + 0.5), torch.floor(values * 255))


@pytest.mark.parametrize("prefix, filename", PAIRS)
def test_outputs_match_the_official_pngs(llflow_dir, golden, prefix, filename):
    weights = llflow_dir / filename
    unpaired, paired = LLFlow(weights=weights), LLFlow(weights=weights, gt_mean=True)
    for crop in CROPS:
        image = read_image(llflow_dir / f"input_{crop}_low.png")
        reference = read_image(llflow_dir / f"input_{crop}_normal_gamma04.png")
        with torch.inference_mode():
            outputs = {"unpaired": unpaired.enhance(image),
                       "paired_gtmean": paired.enhance_with_reference(image, reference)}
        official = {"unpaired": np.asarray(Image.open(llflow_dir / f"out_{prefix}_{crop}_unpaired.png")),
                    "paired_gtmean": np.asarray(Image.open(llflow_dir / f"out_{prefix}_{crop}_paired_gtmean.png"))}
        # without the rescale (what test.py computes before it): the raw output truncated
        noadj = truncate_to_8_bits(t(golden[f"{prefix}_{crop}_paired_out_f32"]))
        diff = np.abs(to_uint8_array(noadj).astype(int) - golden[f"{prefix}_{crop}_paired_out_noadj_u8"].astype(int))
        assert diff.max() == 0
        assert np.array_equal(official["unpaired"], golden[f"{prefix}_{crop}_unpaired_out_u8"])
        for name, output in outputs.items():
            diff = np.abs(to_uint8_array(output).astype(int) - official[name].astype(int))
            assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (crop, name, diff.max(), (diff > 0).mean())


# -- the enhancer: options, weights, runs ------------------------------------------------------

def test_variants_options_and_labels(llflow_dir):
    weights = llflow_dir / "llflow_small_seed0.pth"
    enhancer = LLFlow(weights=weights)  # the variant is read from the file
    assert enhancer.variant == "small" and not enhancer.needs_reference
    assert LLFlow.variants[0] == "standard"
    paired = LLFlow(weights=weights, variant="small", gt_mean=True)
    assert paired.variant == "small+gt_mean" and paired.needs_reference
    assert paired.settings()["procedure"].startswith("test.py")
    assert sum(p.numel() for p in enhancer.network().parameters()) == 5_429_849
    with pytest.warns(UserWarning, match="has no native fp16") if not native_cpu_support("fp16") else nullcontext():
        assert LLFlow(weights=weights, precision="fp16").variant == "small+fp16"
    with pytest.raises(LLEBenchError, match="variant=standard"):
        LLFlow(weights=weights, variant="standard")
    for options, message in (({"variant": "large"}, "variant must be one of standard, small"),
                             ({"gt_mean": "yes"}, "gt_mean must be true or false"),
                             ({"precision": "bf16"}, "precision must be one of fp32, fp16.*bf16 is too coarse")):
        with pytest.raises(LLEBenchError, match=message):
            LLFlow(weights=weights, **options)
    with pytest.raises(LLEBenchError, match="multiples of 8"):
        paired.enhance_with_reference(torch.rand(1, 3, 20, 24), torch.rand(1, 3, 20, 24))


def test_flops_are_counted(llflow_dir):
    from llebench_metrics.efficiency import count_flops

    weights = llflow_dir / "llflow_small_seed0.pth"
    # a 64x64 image: 80x80 after the official padding; the dense blocks dominate
    flops = count_flops(LLFlow(weights=weights), 64, 64)
    assert 6e9 < flops < 1e10


@pytest.mark.parametrize("variant, filename", [(None, "llflow_lol_pc.pth"), ("small", "llflow_lol_small.pth")])
def test_missing_official_weights_offline_say_where_to_save_them(isolated_weights, variant, filename):
    with pytest.raises(WeightsNotFound) as info:
        LLFlow(variant=variant)
    message = str(info.value)
    assert filename in message and "save it as" in message and "drive.google.com" in message


def test_broken_weights_are_refused_clearly(llflow_dir, tmp_path, monkeypatch):
    # no checksum is published for the Google Drive files, so damage shows when loading
    html = tmp_path / "llflow_lol_small.pth"
    html.write_text("<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head></html>")
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsFormatError, match="web page.*in a browser.*llflow_lol_small.pth"):
        LLFlow(variant="small")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes((llflow_dir / "llflow_small_seed0.pth").read_bytes()[:100_000])
    with pytest.raises(WeightsFormatError, match="truncated.pth"):
        LLFlow(weights=truncated)
    state = torch.load(llflow_dir / "llflow_small_seed0.pth", weights_only=True)
    state["flowUpsamplerNet.layers.3.invconv.weights"] = state.pop("flowUpsamplerNet.layers.3.invconv.weight")
    renamed = tmp_path / "renamed.pth"
    torch.save(state, renamed)
    with pytest.raises(LLEBenchError, match="not an official LLFlow small state_dict"):
        LLFlow(weights=renamed)
    with pytest.raises(LLEBenchError, match="not an LLFlow state_dict"):
        torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "other.pth")
        LLFlow(weights=tmp_path / "other.pth")


def paired_folder(llflow_dir: Path, root: Path, crops: tuple[str, ...] = CROPS) -> tuple[Path, Path]:
    low, high = root / "low", root / "high"
    low.mkdir(parents=True)
    high.mkdir(parents=True)
    for crop in crops:
        shutil.copy(llflow_dir / f"input_{crop}_low.png", low / f"{crop}.png")
        shutil.copy(llflow_dir / f"input_{crop}_normal_gamma04.png", high / f"{crop}.png")
    return low, high


@pytest.fixture(scope="module")
def official_names(llflow_dir, tmp_path_factory) -> Path:
    """A weights directory with both files under their official names (no checksum is
    published, so any file is taken): the seeded small weights, and a standard-layout state
    dict written from the official key list (zeros, identity 1x1 convolutions: a valid,
    trivial network; this only checks labels and counts)."""
    root = tmp_path_factory.mktemp("weights")
    (root / "llflow_lol_small.pth").symlink_to(llflow_dir / "llflow_small_seed0.pth")
    state = {key: torch.eye(shape[0]) if key.endswith("invconv.weight") else torch.zeros(shape)
             for key, shape, _ in official_keys(llflow_dir / "llflow_pc_keys_shapes.txt")}
    torch.save(state, root / "llflow_lol_pc.pth")
    return root


def test_every_variant_runs_through_the_cli_and_the_default_is_not_stored(llflow_dir, official_names, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(official_names))
    low, high = tmp_path / "data" / "low", tmp_path / "data" / "high"
    low.mkdir(parents=True)
    high.mkdir(parents=True)
    for name, folder in (("low", low), ("normal_gamma04", high)):  # 16x24: test.py needs multiples of 8
        Image.fromarray(np.asarray(Image.open(llflow_dir / f"input_mid_{name}.png"))[:16, :24]).save(folder / "a.png")
    custom = llflow_dir / "llflow_small_seed0_perturbed.pth"
    out = tmp_path / "run"
    assert main(["run", "--methods", "llflow,small=llflow,custom=llflow", "-o", "small.variant=small",
                 "-o", "custom.gt_mean=true", "--weights", f"custom={custom}", "--datasets", f"folder:{low}",
                 "--ref", str(high), "--metrics", "psnr,params", "--out", str(out), "--no-progress",
                 "--no-report"]) == 0
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert (scores["status"] == "ok").all() and len(scores) == 6
    # the paper's network with test_unpaired.py is the published configuration: no variant
    assert dict(zip(scores["method"], scores["variant"])) == {
        "llflow": "", "small": "small", "custom": "small+gt_mean+custom-weights"}
    params = scores[scores["metric"] == "params"].set_index("method")["value"].to_dict()
    assert params == {"llflow": 38_859_481, "small": 5_429_849, "custom": 5_429_849}


@pytest.mark.slow
def test_the_fp16_variant_stays_within_45_db_of_fp32(llflow_dir, tmp_path):
    """precision=fp16 is the official GPU procedure (autocast); on this CPU it is emulated (slow)."""
    low, high = paired_folder(llflow_dir, tmp_path / "data", crops=("mid",))
    weights = llflow_dir / "llflow_small_seed0_perturbed.pth"
    out = tmp_path / "run"
    # psnr, not a timing metric: no warm-up call (the emulated fp16 forward takes ~40 s here)
    main(["run", "--methods", "llflow,half=llflow", "--datasets", f"folder:{low}", "--ref", str(high),
          "--metrics", "psnr", "--weights", f"llflow={weights}", "--weights", f"half={weights}",
          "-o", "half.precision=fp16", "--out", str(out), "--no-progress", "--no-report"])
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["variant"]) == {"small+custom-weights", "small+fp16+custom-weights"}
    assert set(scores["status"]) == {"ok"}
    full, half = (np.asarray(Image.open(next((out / "images" / m).rglob("mid.png"))), dtype=float) / 255
                  for m in ("llflow", "half"))
    assert 10 * np.log10(1 / np.mean((full - half) ** 2)) >= 45
    # the fp32 PNG the runner cached (its rounding included) is the official one
    official = np.asarray(Image.open(llflow_dir / "out_small_pert_mid_unpaired.png"), dtype=float) / 255
    assert np.abs(full - official).max() <= 1 / 255 + 1e-9


def test_gt_mean_without_a_reference_fails_the_image_clearly(llflow_dir, tmp_path):
    low, _ = paired_folder(llflow_dir, tmp_path / "data", crops=("tl",))
    out = tmp_path / "run"
    main(["run", "--methods", "llflow", "--datasets", f"folder:{low}", "--metrics", "seconds",
          "--weights", f"llflow={llflow_dir / 'llflow_small_seed0.pth'}", "-o", "llflow.gt_mean=true",
          "--out", str(out), "--no-progress", "--no-report"])
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["status"]) == {"failed"}
    assert scores["error"].str.contains("needs the reference image").all()


# -- training ----------------------------------------------------------------------------------

def test_training_input_matches_the_official_dataset(golden):
    generator = torch.Generator().manual_seed(0)
    for crop in CROPS:
        low, high = golden[f"{crop}_low_u8"], golden[f"{crop}_normal_u8"]
        # a 96x128 image with the 160 crop and no flip: the official sample is the whole image
        lq, gt = procedures.training_pair(low, high, procedures.equalize(low), 160, False, generator)
        assert torch.equal(lq, t(golden[f"small_{crop}_train_LQ"])[0])
        assert torch.equal(gt, t(golden[f"small_{crop}_train_GT"])[0])


def official_schedule(base: float, niter: int, steps: list[int], gamma: float, warmup: int) -> list[float]:
    """The learning rate of each official iteration 1..niter, simulated the official way:
    ``MultiStepLR_Restart.step()`` (multiplicative, from the current rate) then the warm-up override."""
    lr, rates = base, []  # the scheduler's constructor step: restart at 0 sets the initial rate
    for t_ in range(1, niter + 1):
        if t_ in steps:
            lr = lr * gamma ** steps.count(t_)
        if t_ < warmup:
            lr = base / warmup * t_
        rates.append(lr)
    return rates


@pytest.mark.parametrize("steps, warmup, niter", [([20000, 30000, 36000, 38000], 3000, 40000),
                                                  ([22500, 33750, 40500, 42750], 0, 45000)])
def test_learning_rate_follows_the_official_schedule(steps, warmup, niter):
    rates = np.array(official_schedule(5e-4, niter, steps, 0.5, warmup))
    ours = np.array([official_learning_rate(5e-4, t_, steps, 0.5, warmup) for t_ in range(1, niter + 1)])
    assert np.allclose(ours[1:], rates[1:], rtol=1e-12, atol=0)  # official t = 1 takes no optimiser step
    assert ours[-1] == pytest.approx(5e-4 / 16 * ((warmup - 1) / warmup if warmup else 1))


def make_lol(root: Path, count: int = 4, size: tuple[int, int] = (40, 48)) -> Path:
    """A tiny LOL layout: <root>/LOL/our485/{low,high}/<i>.png (dark textured pairs)."""
    rng = np.random.default_rng(0)
    for split in ("low", "high"):
        (root / "LOL" / "our485" / split).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        high = np.clip(rng.uniform(0.2, 0.9, (1, 1, 3)) + rng.uniform(0, 0.1, (*size, 3)), 0, 1)
        Image.fromarray(np.uint8(high * 255)).save(root / "LOL" / "our485" / "high" / f"{i}.png")
        Image.fromarray(np.uint8(high ** 2.5 * 0.3 * 255)).save(root / "LOL" / "our485" / "low" / f"{i}.png")
    return root / "LOL"


def quick_config(lol: Path, variant: str = "small", **train) -> TrainConfig:
    raw = {"train": {"iterations": 4, "batch_size": 2, "checkpoint_every": 2, "log_every": 1, "progress": False,
                     "threads": 1, **train},
           "optimizer": {"lr": 5e-4, "betas": [0.9, 0.999]},
           "data": {"root": str(lol), "crop_size": 32},
           "method": {"variant": variant, "lr_steps": [3, 4], "warmup_iter": 3}}
    return TrainConfig.from_dict(raw, LLFlowTrainer)


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "train").glob("llflow*.toml")), ids=lambda p: p.name)
def test_shipped_configs_state_the_official_recipe(path):
    config = TrainConfig.load(path, LLFlowTrainer)
    assert config.optimizer == {**config.optimizer, "name": "adam", "lr": 5e-4, "weight_decay": 0.0,
                                "betas": [0.9, 0.999]}
    assert config.scheduler["name"] == "none" and config.method["train_gt_ratio"] == 0.2
    if "quick" in path.name:
        return
    niter = config.train["iterations"] + 1
    assert config.train["batch_size"] == 16 and config.data["crop_size"] == 160 and config.data["flip"]
    assert config.method["lr_steps"] == [int(r * niter) for r in (0.5, 0.75, 0.9, 0.95)]
    expected = {"small": (45000, 0), "standard": (40000, 3000)}[config.method["variant"]]
    assert (niter, config.method["warmup_iter"]) == expected


def test_trainer_refuses_what_it_cannot_do(tmp_path):
    with pytest.raises(RunConfigError, match="variant"):
        TrainConfig.from_dict({"method": {"variant": "tiny"}}, LLFlowTrainer)
    with pytest.raises(RunConfigError, match="multiple of 8"):
        TrainConfig.from_dict({"data": {"crop_size": 100}}, LLFlowTrainer)
    config = TrainConfig.from_dict({"scheduler": {"name": "cosine"}}, LLFlowTrainer)
    with pytest.raises(RunConfigError, match="leave \\[scheduler\\] out"):
        train(LLFlowTrainer, config, tmp_path / "run")
    lol = make_lol(tmp_path, count=1, size=(24, 24))
    with pytest.raises(Exception, match="smaller than the crop"):
        train(LLFlowTrainer, quick_config(lol), tmp_path / "small_images")


def test_dataset_draws_come_from_the_engines_generator(tmp_path):
    lol = make_lol(tmp_path)
    dataset = LoLTrainSet(lol / "our485" / "low", lol / "our485" / "high", 32, True)
    a = dataset.get(1, torch.Generator().manual_seed(7))
    b = dataset.get(1, torch.Generator().manual_seed(7))
    assert all(torch.equal(a[k], b[k]) for k in a) and a["lq"].shape == (6, 32, 32) and a["gt"].shape == (3, 32, 32)
    draws = [float(dataset.get(0, torch.Generator().manual_seed(s))["draw"]) for s in range(200)]
    assert 0.1 < np.mean(np.array(draws) <= 0.2) < 0.3


def model_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def log_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "train_log.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


@pytest.mark.slow
def test_training_resumes_exactly_and_the_model_runs(tmp_path, monkeypatch):
    lol = make_lol(tmp_path)
    straight = train(LLFlowTrainer, quick_config(lol), tmp_path / "straight")
    rows = log_rows(tmp_path / "straight")
    assert [float(r["lr"]) for r in rows] == pytest.approx([5e-4 * 2 / 3, 5e-4 / 3, 5e-4 / 6, 5e-4 / 6])

    original = LLFlowTrainer.training_step

    def killed_at_iteration_3(self, model, batch):
        if self.context.iteration == 2:  # iterations 1-2 done, their checkpoint written
            raise KeyboardInterrupt
        return original(self, model, batch)

    monkeypatch.setattr(LLFlowTrainer, "training_step", killed_at_iteration_3)
    with pytest.raises(KeyboardInterrupt):
        train(LLFlowTrainer, quick_config(lol), tmp_path / "resumed")
    monkeypatch.setattr(LLFlowTrainer, "training_step", original)
    resumed = train(LLFlowTrainer, quick_config(lol), tmp_path / "resumed", resume=True)
    a, b = model_state(straight.model), model_state(resumed.model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert log_rows(tmp_path / "straight") == log_rows(tmp_path / "resumed")
    # the ActNorms were initialised from data at the first step and trained since
    assert float(a["flowUpsamplerNet.layers.1.actnorm.bias"].abs().max()) > 0
    assert load_checkpoint(straight.checkpoint)["iteration"] == 4

    # the exported weights are the official layout: `llebench run --weights model.pt` evaluates them
    assert [(k, tuple(v.shape)) for k, v in a.items()] == [(k, s) for k, s, _ in layout_of(SMALL)]
    image = tmp_path / "eval"
    image.mkdir()
    Image.fromarray(np.uint8(np.random.default_rng(1).uniform(0, 60, (24, 40, 3)))).save(image / "x.png")
    out = tmp_path / "eval_run"
    assert main(["run", "--methods", "llflow", "--datasets", f"folder:{image}", "--metrics", "seconds",
                 "--weights", f"llflow={straight.model}", "--out", str(out), "--no-progress", "--no-report"]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores["variant"]) == ["small+custom-weights"] and list(scores["status"]) == ["ok"]


def layout_of(arch) -> list[tuple[str, tuple[int, ...], int]]:
    return layout(LLFlowNet(arch, initialise=False))


@pytest.mark.slow
def test_the_standard_recipe_trains_a_few_iterations_through_the_cli(tmp_path):
    """``llebench train llflow --config configs/train/llflow_lol.toml`` on the CPU (generated pairs)."""
    make_lol(tmp_path / "data", count=2)
    out = tmp_path / "run"
    sets = {"train.amp": "none", "train.iterations": 2, "train.batch_size": 1, "train.num_workers": 0,
            "train.progress": "false", "train.threads": 1, "train.checkpoint_every": 2, "train.log_every": 1,
            "data.crop_size": 32}
    args = ["train", "llflow", "--config", str(REPO / "configs" / "train" / "llflow_lol.toml"), "--out", str(out),
            "--device", "cpu", "--data-root", str(tmp_path / "data")]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    rows = log_rows(out)
    assert [float(r["lr"]) for r in rows] == pytest.approx([5e-4 * 2 / 3000, 5e-4 * 3 / 3000])  # the warm-up
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    state = model_state(out / "model.pt")
    assert sum(v.numel() for v in state.values()) == 38_859_481
    # the rate is set on the engine's optimiser only: another optimiser stepped afterwards keeps its own
    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.123)
    other.step()
    assert other.param_groups[0]["lr"] == 0.123


HIGH_RESOLUTION_RUN = """
import resource, sys
import torch
from llebench.cli import main
torch.set_num_threads(1)
small, big, weights, out = sys.argv[1:5]
args = ["run", "--methods", "llflow", "--metrics", "seconds", "--weights", "llflow=" + weights,
        "--no-progress", "--no-report", "--no-memory-reuse"]
# warm up (plugins, imports, the model) on a small image, then cap the address space
assert main(args + ["--datasets", "folder:" + small, "--out", out + "/warm"]) == 0
with open("/proc/self/status") as fh:
    used = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
limit = used + 2 * 2**30
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
main(args + ["--datasets", "folder:" + big, "--out", out + "/big"])
"""


@pytest.mark.slow
def test_a_4000x3000_image_out_of_memory_is_an_honest_failure_row(llflow_dir, tmp_path):
    """High resolution: no tiling (global histogram equalisation; a receptive field of
    hundreds of pixels), the image is computed whole. Given 2 GB more than the loaded model
    needs, the 4000x3000 image (whose first convolution alone makes a 1.5 GB map) fails
    with an out-of-memory row instead of being tiled or crashing the run."""
    import subprocess
    import sys

    assert LLFlow.tile_halo is None
    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir()
    big.mkdir()
    shutil.copy(llflow_dir / "input_mid_low.png", small / "mid.png")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 60, (3000, 4000, 3), dtype=np.uint8)).save(big / "big.png")
    done = subprocess.run([sys.executable, "-c", HIGH_RESOLUTION_RUN, str(small), str(big),
                           str(llflow_dir / "llflow_small_seed0.pth"), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    scores = pd.read_csv(tmp_path / "run" / "big" / "scores.csv")
    assert list(scores["status"]) == ["failed"]
    assert scores["error"].str.contains("allocate memory|out of memory").all(), scores["error"].tolist()
