"""Loss plugins: CR (AECR-Net), PatchNCE (CUT), SCL-LLE's terms, and ``[[losses]]`` in train configs.

Feature networks are random here (VGG-19/16 ImageNet files are not available offline) or
replaced by fixed extractors: these tests check formulas and wiring, never feature quality.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llebench.cli import main as cli_main
from llebench.errors import LLEBenchError, RunConfigError, WeightsNotFound
from llebench.sdk import LossInputs
from llebench.training import TrainConfig, TrainContext, train
from llebench_contrastive import patchnce as patchnce_module
from llebench_contrastive.cr import EPS, PAPER_LAYERS, PAPER_WEIGHTS, ContrastiveRegularization
from llebench_contrastive.patchnce import PatchNCE, nce
from llebench_dcenet.scl_losses import OFFICIAL
from llebench_dcenet.scl_terms import SCLBrightness, SCLGram
from llebench_dcenet.scl_trainer import SCLLLETrainer
from llebench_ssll.trainer import SSLLTrainer

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def two_layer_extractor(images: torch.Tensor, layers) -> list[torch.Tensor]:
    """A fixed 'feature network': the image itself, then its square."""
    assert len(layers) == 2
    return [images, images ** 2]


def mean_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    flat_a, flat_b = a.flatten().tolist(), b.flatten().tolist()
    return sum(abs(x - y) for x, y in zip(flat_a, flat_b)) / len(flat_a)


def tiny_images(batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, 3, 2, 2, generator=g) * 0.2
    out = torch.rand(batch, 3, 2, 2, generator=g)
    ref = torch.rand(batch, 3, 2, 2, generator=g)
    return low, out, ref


def make_cr(**options) -> ContrastiveRegularization:
    cr = ContrastiveRegularization(layers=["relu1_1", "relu2_1"], layer_weights=[0.25, 1.0],
                                   feature_nets="random", **options)
    cr.extractor = two_layer_extractor
    return cr


# -- CR ------------------------------------------------------------------------------------


def test_cr_defaults_are_the_papers_layers_and_weights():
    assert PAPER_LAYERS == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert PAPER_WEIGHTS == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1)
    cr = ContrastiveRegularization(feature_nets="random")
    # torchvision features indices of the paper's 1st, 3rd, 5th, 9th and 13th layers (after their ReLUs)
    assert [cr.vgg.index(name) for name in cr.layers] == [1, 6, 11, 20, 29]
    assert cr.untrained and cr.normalize is False


def test_cr_equals_a_hand_computed_value():
    low, out, ref = tiny_images()
    value = make_cr()(LossInputs(low, out, ref))
    expected = 0.0
    for weight, f in ((0.25, lambda x: x), (1.0, lambda x: x ** 2)):
        expected += weight * mean_abs(f(ref), f(out)) / (mean_abs(f(low), f(out)) + EPS)
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_cr_without_negatives_ignores_the_input():
    low, out, ref = tiny_images()
    cr = make_cr(negatives=False)
    value = float(cr(LossInputs(low, out, ref)))
    assert float(cr(LossInputs(torch.rand_like(low), out, ref))) == value
    assert value == pytest.approx(0.25 * mean_abs(ref, out) + mean_abs(ref ** 2, out ** 2), rel=1e-6)


def test_cr_extra_negatives_are_the_other_images_of_the_batch():
    low, out, ref = tiny_images(batch=3)
    value = make_cr(extra_negatives=2)(LossInputs(low, out, ref))
    expected = 0.0
    for weight, f in ((0.25, lambda x: x), (1.0, lambda x: x ** 2)):
        # with r = B - 1 every image's input is a negative of every output: 3 distances averaged
        negatives = [mean_abs(f(low.roll(s, 0)), f(out)) for s in range(3)]
        expected += weight * mean_abs(f(ref), f(out)) / (sum(negatives) / 3 + EPS)
    assert float(value) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(RunConfigError, match="at least 4"):
        make_cr(extra_negatives=3)(LossInputs(low, out, ref))


def test_cr_gradient_reaches_the_output_only():
    low, out, ref = tiny_images()
    out.requires_grad_(True)
    make_cr()(LossInputs(low, out, ref)).backward()
    assert out.grad is not None and float(out.grad.abs().sum()) > 0


def test_missing_vgg19_is_one_clear_message(isolated_weights):
    for loss in (ContrastiveRegularization, PatchNCE):
        with pytest.raises(WeightsNotFound, match="vgg19-dcbb9e9d.pth.*https://download.pytorch.org/models/vgg19"):
            loss()


@pytest.mark.parametrize("options, match", [
    ({"layers": [1, 3, 5]}, "layer name"),
    ({"layers": ["relu9_1"]}, "not a VGG-19 layer"),
    ({"layer_weights": [1.0]}, "layer_weights"),
    ({"negatives": "no"}, "negatives"),
    ({"negatives": False, "extra_negatives": 1}, "extra_negatives needs"),
    ({"extra_negatives": -1}, "extra_negatives"),
    ({"feature_nets": "imagenet"}, "feature_nets"),
])
def test_cr_bad_options_are_clear_errors(options, match):
    with pytest.raises(LLEBenchError, match=match):
        ContrastiveRegularization(feature_nets=options.pop("feature_nets", "random"), **options)


# -- PatchNCE --------------------------------------------------------------------------------


def reference_infonce(queries: torch.Tensor, keys: torch.Tensor, tau: float) -> float:
    """Eq. 3 of CUT written out: for each query, -log(e^{q.k+/tau} / (e^{q.k+/tau} + sum_n e^{q.k_n/tau}))."""
    q, k = queries.double(), keys.double()
    losses = []
    for b in range(q.shape[0]):
        for p in range(q.shape[1]):
            positive = math.exp(float(q[b, p] @ k[b, p]) / tau)
            negatives = sum(math.exp(float(q[b, p] @ k[b, n]) / tau) for n in range(q.shape[1]) if n != p)
            losses.append(-math.log(positive / (positive + negatives)))
    return sum(losses) / len(losses)


def test_nce_equals_a_reference_infonce():
    g = torch.Generator().manual_seed(3)
    q = torch.nn.functional.normalize(torch.randn(2, 5, 8, generator=g), dim=-1)
    k = torch.nn.functional.normalize(torch.randn(2, 5, 8, generator=g), dim=-1)
    assert float(nce(q, k, 0.07)) == pytest.approx(reference_infonce(q, k, 0.07), rel=1e-5)


def fixed_feature_maps(images: torch.Tensor, layers) -> list[torch.Tensor]:
    """Two 'layers' with 3 and 6 channels at full and half resolution, differentiable in the images."""
    half = torch.nn.functional.avg_pool2d(images, 2)
    return [images, torch.cat([half, half.flip(1) ** 2], dim=1)][: len(layers)]


def test_patchnce_equals_the_reference_for_fixed_features_and_locations(monkeypatch):
    g = torch.Generator().manual_seed(5)
    low, out = torch.rand(2, 3, 8, 8, generator=g) * 0.3, torch.rand(2, 3, 8, 8, generator=g)
    loss = PatchNCE(layers=["relu1_1", "relu2_1"], patches=6, feature_nets="random", head_width=4)
    loss.extractor = fixed_feature_maps
    loss.heads = torch.nn.ModuleList([patchnce_module.projection_head(3, 4, g), patchnce_module.projection_head(6, 4, g)])
    chosen = [torch.tensor([0, 5, 9, 17, 40, 63]), torch.tensor([1, 2, 3, 7, 11, 15])]
    calls = iter(chosen)
    monkeypatch.setattr(patchnce_module, "sample_locations", lambda h, w, count: next(calls))
    value = float(loss(LossInputs(low, out)).detach())

    expected = 0.0
    for head, locations, q_map, k_map in zip(loss.heads, chosen, fixed_feature_maps(out, "ab"), fixed_feature_maps(low, "ab")):
        def project(feature_map):
            rows = feature_map.flatten(2)[:, :, locations].transpose(1, 2)  # B x P x C
            projected = head(rows)
            return projected / (projected.norm(dim=-1, keepdim=True) + 1e-7)
        expected += reference_infonce(project(q_map).detach(), project(k_map).detach(), 0.07)
    assert value == pytest.approx(expected / 2, rel=1e-5)


def test_patchnce_trains_its_heads_and_keeps_keys_detached():
    g = torch.Generator().manual_seed(1)
    low, out = torch.rand(2, 3, 32, 32, generator=g) * 0.3, torch.rand(2, 3, 32, 32, generator=g)
    out.requires_grad_(True)
    low.requires_grad_(True)
    loss = PatchNCE(layers=["relu1_1", "relu2_1"], patches=16, feature_nets="random")
    assert loss.trainable() is loss.heads and loss.untrained and not loss.needs_reference
    loss(LossInputs(low, out)).backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in loss.heads.parameters())
    assert float(out.grad.abs().sum()) > 0 and low.grad is None
    # CUT's head initialisation: N(0, 0.02) weights, zero biases
    first = loss.heads[0][0]
    assert float(first.bias.detach().abs().sum()) == 0 and 0.01 < float(first.weight.detach().std()) < 0.03


def test_patchnce_samples_every_location_of_a_small_map_and_can_key_on_the_reference():
    loss = PatchNCE(layers=["relu1_1"], patches=256, key="reference", feature_nets="random")
    assert loss.needs_reference
    g = torch.Generator().manual_seed(2)
    low, out, ref = (torch.rand(1, 3, 6, 6, generator=g) for _ in range(3))
    assert math.isfinite(float(loss(LossInputs(low, out, ref)).detach()))  # 36 < 256 locations: all of them
    with pytest.raises(RunConfigError, match="paired data"):
        loss(LossInputs(low, out))
    for options, match in (({"patches": 1}, "patches"), ({"temperature": 0}, "temperature"),
                           ({"key": "negatives"}, "key")):
        with pytest.raises(RunConfigError, match=match):
            PatchNCE(feature_nets="random", **options)


# -- SCL-LLE's terms as losses ---------------------------------------------------------------


def _scl_step(tmp_path: Path, compat: str):
    from test_scl_train import _fixed_batch, make_cityscapes, make_flat_exposures, tiny_config

    make_cityscapes(tmp_path / "data" / "cityscapes")
    make_flat_exposures(tmp_path / "data" / "SICE_part1")
    context = TrainContext(device=torch.device("cpu"), out=tmp_path, data_root=tmp_path / "data")
    config = tiny_config(compat=compat)
    trainer = SCLLLETrainer(config, context)
    batch = _fixed_batch(trainer)
    return trainer.training_step(trainer.build_model(), batch), int(config.train["seed"])


@pytest.mark.parametrize("compat", ["paper", "official"])
def test_scl_losses_give_the_trainers_own_terms(tmp_path, compat):
    step, seed = _scl_step(tmp_path, compat)
    inputs = step.loss_inputs
    assert inputs.reference is None and inputs.positives is not None and inputs.negatives is not None
    gram = SCLGram(compat=compat, feature_nets="random", seed=seed)(inputs)
    brightness = SCLBrightness(compat=compat)(inputs)
    if compat == "paper":
        assert float(gram) == float(step.logs["contrast_gram"])
        assert float(brightness) == float(step.logs["contrast_mean"])
    else:  # the official weights (5 and 10) are config weights of the losses
        assert OFFICIAL["gram_triplet"] * float(gram) == pytest.approx(float(step.logs["contrast_gram"]), rel=1e-6)
        assert OFFICIAL["grey_triplet"] * float(brightness) == pytest.approx(float(step.logs["contrast_grey"]), rel=1e-6)
    # without negatives only the pull to the positives remains
    no_negatives = SCLBrightness(compat=compat, negatives=False)(inputs)
    assert float(no_negatives) == float(SCLBrightness(compat=compat, negatives=False)(
        LossInputs(inputs.input, inputs.output, None, inputs.positives, None)))
    with pytest.raises(RunConfigError, match="no negatives"):
        SCLBrightness(compat=compat)(LossInputs(inputs.input, inputs.output, None, inputs.positives, None))


# -- [[losses]] in train configs ------------------------------------------------------------


def make_pairs(root: Path, count: int = 4) -> Path:
    rng = np.random.default_rng(7)
    for sub in ("low", "high"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        high = rng.uniform(0.2, 0.9, size=(40, 40, 3))
        Image.fromarray(np.uint8(high * 255)).save(root / "high" / f"p{i}.png")
        Image.fromarray(np.uint8(high ** 2.2 * 0.4 * 255)).save(root / "low" / f"p{i}.png")
    return root


def ssll_config(root: Path, losses: list[dict], iterations: int = 4, **train) -> dict:
    return {
        "train": {"iterations": iterations, "batch_size": 2, "ema_decay": 0.99, "checkpoint_every": 2,
                  "log_every": 1, "progress": False, "threads": 1, "feature_nets": "random", **train},
        "optimizer": {"name": "adamw", "lr": 2e-4},
        "data": {"paired_low": str(root / "low"), "paired_high": str(root / "high"), "crop_size": 32},
        "method": {"stage": "supervised", "backbone_options": {"width": 2}, "sup_loss": "ssim+l1"},
        "losses": losses,
    }


def log_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "train_log.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def test_terms_are_logged_weighted_into_the_loss_and_stamp_the_model_untrained(tmp_path):
    root = make_pairs(tmp_path / "pairs")
    losses = [{"name": "cr", "weight": 0.1, "layers": ["relu1_1", "relu2_1"], "layer_weights": [0.5, 1.0]},
              {"name": "patchnce", "weight": 0.2, "label": "nce", "layers": ["relu1_1"], "patches": 32}]
    result = train(SSLLTrainer, TrainConfig.from_dict(ssll_config(root, losses), SSLLTrainer), tmp_path / "run")
    rows = log_rows(tmp_path / "run")
    assert {"cr", "nce", "ssim", "l1", "loss"} <= set(rows[0])
    for row in rows:  # the logged total is the trainer's loss plus each weighted term
        total = float(row["ssim"]) + float(row["l1"]) + 0.1 * float(row["cr"]) + 0.2 * float(row["nce"])
        assert float(row["loss"]) == pytest.approx(total, rel=1e-5)
    model = torch.load(result.model, weights_only=True)
    assert model["untrained"] is True
    assert not any(key.startswith("nce") or "heads" in key for key in model["model"])  # heads stay out
    settings = model["provenance"]["losses"]
    assert settings["cr"]["weight"] == 0.1 and settings["nce"]["name"] == "patchnce"


def test_resume_restores_the_projection_heads_exactly(tmp_path):
    from test_scl_train import _killed_then_resumed

    root = make_pairs(tmp_path / "pairs")
    losses = [{"name": "patchnce", "weight": 0.5, "layers": ["relu1_1", "relu2_1"], "patches": 32}]
    config = TrainConfig.from_dict(ssll_config(root, losses), SSLLTrainer)
    straight = train(SSLLTrainer, config, tmp_path / "straight")
    _killed_then_resumed(SSLLTrainer, config, tmp_path / "resumed", kill_at=3)
    a = torch.load(straight.model, weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert log_rows(tmp_path / "straight") == log_rows(tmp_path / "resumed")
    heads = [torch.load(out / "checkpoints" / "iter_0000004.pt", weights_only=True)["state"]["losses"]
             for out in (tmp_path / "straight", tmp_path / "resumed")]
    assert heads[0].keys() == heads[1].keys() and all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])


@pytest.mark.parametrize("losses, match", [
    ([{"name": "no_such_loss"}], "no_such_loss"),
    ([{"name": "cr"}, {"name": "cr"}], "label"),
    ([{"name": "cr", "weight": -1}], "weight"),
    ([{"name": "cr", "feature_nets": "random"}], "feature_nets"),
    ([{"name": "cr", "layerz": ["relu1_1"]}], "layerz"),
])
def test_bad_loss_entries_are_clear_errors(tmp_path, losses, match):
    root = make_pairs(tmp_path / "pairs")
    with pytest.raises(LLEBenchError, match=match):
        config = TrainConfig.from_dict(ssll_config(root, losses), SSLLTrainer)
        train(SSLLTrainer, config, tmp_path / "run")


def test_a_trainer_without_loss_inputs_or_references_is_refused(tmp_path):
    from test_scl_train import make_cityscapes, make_flat_exposures, tiny_config

    from llebench_dcenet.zero_dce_trainer import ZeroDCETrainer

    images = tmp_path / "images"
    make_flat_exposures(images)
    raw = {"train": {"iterations": 1, "batch_size": 2, "progress": False, "feature_nets": "random"},
           "data": {"root": str(images), "image_size": 32}, "losses": [{"name": "patchnce", "layers": ["relu1_1"]}]}
    with pytest.raises(RunConfigError, match="does not provide loss inputs"):
        train(ZeroDCETrainer, TrainConfig.from_dict(raw, ZeroDCETrainer), tmp_path / "zero")
    # SCL-LLE gives inputs, but no reference: CR (which needs one) is refused by name
    make_cityscapes(tmp_path / "data" / "cityscapes")
    make_flat_exposures(tmp_path / "data" / "SICE_part1")
    config = tiny_config()
    config.train["feature_nets"] = "random"
    config.losses = [{"name": "cr", "label": "cr", "weight": 0.1, "options": {}}]
    with pytest.raises(RunConfigError, match="'cr' needs paired data"):
        train(SCLLLETrainer, config, tmp_path / "scl",
              context=TrainContext(device=torch.device("cpu"), out=tmp_path / "scl", data_root=tmp_path / "data"))


# -- the command line and the shipped ablation ------------------------------------------------


def test_plugins_and_weights_list_show_the_losses(capsys):
    assert cli_main(["plugins"]) == 0
    listing = capsys.readouterr().out
    assert "losses: cr, patchnce" in listing and "losses: scl_brightness, scl_gram" in listing
    assert cli_main(["weights", "list"]) == 0
    assert "vgg19-dcbb9e9d.pth" in capsys.readouterr().out


@pytest.mark.parametrize("run, column", [("cr", "cr"), ("patchnce", "patchnce"), ("cr_wo_neg", "cr")])
def test_cli_trains_the_shipped_ablation_configs_with_random_features(tmp_path, shared_data, run, column):
    out = tmp_path / run
    code = cli_main(["train", "ssll", "--config", str(REPO / "configs" / "train" / f"contrastive_{run}.toml"),
                     "--set", "train.iterations=2", "--set", "train.progress=false", "--set", "data.crop_size=48",
                     "--feature-nets", "random", "--data-root", str(shared_data), "--out", str(out)])
    assert code == 0
    rows = log_rows(out)
    assert len(rows) >= 1 and column in rows[0] and math.isfinite(float(rows[0][column]))
    assert torch.load(out / "model.pt", weights_only=True)["untrained"] is True


def test_ablation_configs_differ_only_in_their_losses():
    import tomllib

    configs = {run: tomllib.loads((REPO / "configs" / "train" / f"contrastive_{run}.toml").read_text())
               for run in ("base", "cr", "cr_wo_neg", "patchnce")}
    stripped = [{k: v for k, v in c.items() if k != "losses"} for c in configs.values()]
    assert all(s == stripped[0] for s in stripped)
    assert "losses" not in configs["base"]
    assert configs["cr"]["losses"] == [{"name": "cr", "weight": 0.1}]
    assert configs["cr_wo_neg"]["losses"] == [{"name": "cr", "weight": 0.1, "negatives": False}]
    assert configs["patchnce"]["losses"] == [{"name": "patchnce", "weight": 0.1}]


@pytest.mark.slow
def test_two_process_ddp_trains_the_heads_as_one_process(tmp_path):
    """PatchNCE is a mean over images, so 2 gloo ranks with half the batch each must give the
    single-process network and heads (the engine averages the heads' gradients itself).
    SGD: Adam would magnify float noise in near-zero gradients into lr-sized steps."""
    import os
    import subprocess
    import sys

    from test_training_ddp import torchrun

    root = make_pairs(tmp_path / "pairs")
    config = tmp_path / "train.toml"
    config.write_text(f"""
[train]
iterations = 3
batch_size = 4
checkpoint_every = 3
log_every = 1
threads = 1
progress = false
ema_decay = 0.99
feature_nets = "random"
[optimizer]
name = "sgd"
lr = 0.05
[data]
paired_low = "{(root / 'low').as_posix()}"
paired_high = "{(root / 'high').as_posix()}"
crop_size = 32
[method]
stage = "supervised"
backbone_options = {{ width = 2 }}
sup_loss = "ssim+l1"
[[losses]]
name = "patchnce"
weight = 1.0
layers = ["relu1_1", "relu2_1"]
patches = 16
""")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["train", "ssll", "--config", str(config)]
    single = subprocess.run([sys.executable, "-m", "llebench.cli", *common, "--out", str(tmp_path / "single")],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = subprocess.run([*torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "llebench.cli", *common,
                          "--out", str(tmp_path / "ddp")], capture_output=True, text=True, env=env, timeout=300,
                         check=False)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a, b = (torch.load(tmp_path / run / "checkpoints" / "iter_0000003.pt", weights_only=True)["state"]
            for run in ("single", "ddp"))
    for part in ("network", "losses"):
        assert a[part].keys() == b[part].keys() and a[part]
        for key in a[part]:
            torch.testing.assert_close(b[part][key], a[part][key], rtol=1e-4, atol=1e-6)
    rows_a, rows_b = log_rows(tmp_path / "single"), log_rows(tmp_path / "ddp")
    for row_a, row_b in zip(rows_a, rows_b, strict=True):
        assert float(row_b["patchnce"]) == pytest.approx(float(row_a["patchnce"]), rel=1e-5)
