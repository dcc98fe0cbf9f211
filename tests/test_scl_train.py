"""SCL-LLE trainer: loss parity with the official code, paper losses, data layouts, training runs.

Feature networks here are random (``feature_nets = "random"``) or saved from randomly
initialised torchvision/DeepLab models: these tests check wiring and numerics, never the
quality of pretrained weights.
"""

from __future__ import annotations

from llebench.context import Context

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llebench.cli import main as cli_main
from llebench.errors import ChecksumMismatch, DatasetUnavailable, LLEBenchError, WeightsNotFound
from llebench.training import TrainConfig, TrainContext, train
from llebench_dcenet.dcenet import DCENet
from llebench_dcenet.enhancers import SCLLLE
from llebench.sdk.nets import DEEPLAB_CITYSCAPES_WEIGHTS
from llebench_dcenet import scl_losses as losses
from llebench_dcenet.scl_data import SCLTrainSet, cityscapes_pairs, load_contrast_pools
from llebench_dcenet.scl_trainer import SCLLLETrainer
from llebench.nets.vgg import LAYERS, VGG16_IMAGENET_WEIGHTS, VGGFeatures

REPO = Path(__file__).resolve().parents[1]
GOLDEN_RTOL = 1e-5


# -- fixtures ----------------------------------------------------------------------------


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8)).save(path)


def make_cityscapes(root: Path, count: int = 3, height: int = 96, width: int = 160) -> Path:
    """Cityscapes layout: sky / building / road bands, a car, an unlabeled border (label ids)."""
    rng = np.random.default_rng(0)
    for i in range(count):
        ids = np.full((height, width), 7, np.uint8)  # road
        ids[: height // 3] = 23  # sky
        ids[height // 3: 2 * height // 3] = 11  # building
        ids[2 * height // 3:, 20 + 10 * i: 60 + 10 * i] = 26  # car
        ids[:4] = 0  # unlabeled -> 255
        band = np.digitize(np.arange(height), [height // 3, 2 * height // 3])
        base = np.array([0.35, 0.5, 0.6])[band][:, None, None] * rng.uniform(0.6, 1.0, (1, 1, 3))
        image = base + rng.normal(0, 0.05, (height, width, 3))
        stem = f"aachen_{i:06d}_000019"
        _save(image, root / "leftImg8bit" / "train" / "aachen" / f"{stem}_leftImg8bit.png")
        label_path = root / "gtFine" / "train" / "aachen" / f"{stem}_gtFine_labelIds.png"
        label_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ids).save(label_path)
    return root


def make_flat_exposures(root: Path, count: int = 12) -> Path:
    """A flat folder of images whose mean brightness spans (0, 1), like SICE_part1."""
    rng = np.random.default_rng(1)
    for i in range(count):
        level = (i + 0.5) / count
        _save(level * (0.8 + 0.4 * rng.random((64, 64, 3))), root / f"{i + 1}.jpg")
    return root


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    make_cityscapes(tmp_path / "data" / "cityscapes")
    make_flat_exposures(tmp_path / "data" / "SICE_part1")
    return tmp_path / "data"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {
    "train": {"iterations": 6, "batch_size": 2, "log_every": 1, "checkpoint_every": 6, "progress": False},
    "optimizer": {"lr": 1e-3},
    "data": {"resize": 0, "crop": 64, "contrast_size": 64},
    "method": {"feature_nets": "random"},
}


def tiny_config(**method) -> TrainConfig:
    raw = {table: dict(values) for table, values in TINY.items()}
    raw["method"].update(method)
    return TrainConfig.from_dict(raw, SCLLLETrainer)


# -- parity with the official code ---------------------------------------------------------


def _rel(value: torch.Tensor | float, expected: np.ndarray) -> float:
    return abs(float(value) - float(expected)) / abs(float(expected))


def test_official_losses_match_golden_values(golden_dir):
    golden = np.load(golden_dir / "golden_losses.npz")
    t = {k: torch.from_numpy(golden[k]) for k in ("enh", "pos", "neg", "labels", "feat")}
    assert _rel(losses.official_exposure_clamped(t["enh"]), golden["scl_exp_clamped"]) < GOLDEN_RTOL
    assert _rel(losses.official_segexp(t["enh"], t["labels"]), golden["scl_segexp"]) < GOLDEN_RTOL
    d_pos = losses.official_grey_l1(t["enh"], t["pos"])
    d_neg = losses.official_grey_l1(t["enh"], t["neg"])
    assert _rel(d_pos, golden["scl_con_pos"]) < GOLDEN_RTOL
    assert _rel(d_neg, golden["scl_con_neg"]) < GOLDEN_RTOL
    assert _rel(losses.triplet(d_pos, d_neg, 0.3), golden["scl_cont1_triplet"]) < GOLDEN_RTOL
    expected_gram = torch.from_numpy(golden["scl_gram"])
    assert torch.allclose(losses.gram(t["feat"]), expected_gram, rtol=GOLDEN_RTOL, atol=0)


def test_official_segexp_masks_every_image_with_every_label_map():
    """The official broadcast: image i under labels j; with identical labels it is per image."""
    images = torch.rand(2, 3, 8, 8)
    labels = torch.randint(0, 3, (1, 8, 8)).repeat(2, 1, 1)
    swapped = torch.stack([labels[0], (labels[1] + 1) % 3])
    assert not torch.isclose(losses.official_segexp(images, labels), losses.official_segexp(images, swapped))


# -- paper losses --------------------------------------------------------------------------


def _naive_semantic_brightness(images, labels):
    per_image = []
    for image, label in zip(images, labels, strict=True):
        brightness = image.mean(0)
        valid = label != 255
        total = sum(((brightness[label == c] - brightness[label == c].mean()) ** 2).sum()
                    for c in label[valid].unique())
        per_image.append(total / valid.sum())
    return torch.stack(per_image).mean()


def test_semantic_brightness_is_per_class_variance_per_image():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 12, 10)
    labels = torch.randint(0, 4, (2, 12, 10))
    labels[0, :3] = 255
    labels[1, :, :2] = 18
    expected = _naive_semantic_brightness(images, labels)
    assert torch.allclose(losses.semantic_brightness(images, labels), expected, rtol=1e-5)
    uniform = torch.ones(2, 3, 12, 10) * (labels.float() / 20).unsqueeze(1).clamp(max=1)
    assert losses.semantic_brightness(uniform, labels) == pytest.approx(0.0, abs=1e-12)


def test_triplet_and_distances():
    d_pos, d_neg = torch.tensor([0.1, 0.5]), torch.tensor([0.5, 0.1])
    assert losses.triplet(d_pos, d_neg, 0.3).item() == pytest.approx((0 + 0.7) / 2)
    assert losses.triplet(d_pos, None, 0.3).item() == pytest.approx(0.3)
    a = torch.full((1, 3, 4, 4), 0.2)
    b = torch.full((1, 3, 4, 4), 0.5)
    assert losses.expectation_distance(a, b).item() == pytest.approx(0.3)
    features = [torch.rand(2, 4, 5, 5)]
    assert torch.equal(losses.gram_distance(features, features), torch.zeros(2))


def test_color_constancy_and_tv():
    grey = torch.full((2, 3, 6, 6), 0.4)
    assert losses.color_constancy(grey).item() == 0.0
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    assert losses.color_constancy(red).item() == pytest.approx(2.0)  # (1-0)^2 + (1-0)^2 + 0
    assert losses.curve_tv_l1(torch.ones(1, 24, 5, 5)).item() == 0.0
    ramp = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 24, 5, 5)
    assert losses.curve_tv_l1(ramp).item() == pytest.approx(3.0)  # |dx| = 1, |dy| = 0, 24/8 = 3


# -- VGG-16 --------------------------------------------------------------------------------


def test_vgg_loads_a_torchvision_state_dict_from_an_explicit_file(tmp_path):
    import torchvision

    torch.manual_seed(0)
    reference = torchvision.models.vgg16(weights=None).eval()
    path = tmp_path / "my_vgg16.pth"
    torch.save({k: v for k, v in reference.state_dict().items() if k.startswith("features.")}, path)
    vgg = VGGFeatures.pretrained(16, normalize=False, weights=path)
    image = torch.rand(1, 3, 32, 32)
    outputs = vgg(image, tuple(LAYERS))
    with torch.no_grad():
        x = image
        expected = []
        for index, module in enumerate(reference.features[: LAYERS["relu4_3"] + 1]):
            x = module(x)
            if index in LAYERS.values():
                expected.append(x.clone())
    for got, want in zip(outputs, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    assert list(vgg.weights_used()) == ["my_vgg16.pth"]


def test_vgg_found_in_weights_dir_must_be_the_published_file(tmp_path, monkeypatch):
    (tmp_path / VGG16_IMAGENET_WEIGHTS.filename).write_bytes(b"not the ImageNet weights")
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("LLEBENCH_OFFLINE", "1")
    assert VGG16_IMAGENET_WEIGHTS.sha256.startswith("397923af")  # torchvision's file-name hash prefix
    with pytest.raises(ChecksumMismatch, match="vgg16-397923af.pth"):
        VGGFeatures.pretrained(16, normalize=True)


# -- data ----------------------------------------------------------------------------------


def test_training_items_shapes_labels_and_determinism(data_root):
    pools = load_contrast_pools(data_root / "SICE_part1")
    dataset = SCLTrainSet(cityscapes_pairs(data_root / "cityscapes"), pools, "both", resize=0, crop=64,
                          hflip=True, darken_gamma=[2.0, 2.0], contrast_size=48)
    item = dataset.get(0, torch.Generator().manual_seed(5))
    assert item["low"].shape == (3, 64, 64) and item["positive"].shape == item["negative"].shape == (3, 48, 48)
    assert item["labels"].dtype == torch.int64 and set(item["labels"].unique().tolist()) <= {0, 2, 10, 13, 255}
    again = dataset.get(0, torch.Generator().manual_seed(5))
    assert all(torch.equal(item[k], again[k]) for k in item)
    undarkened = SCLTrainSet(dataset.pairs, pools, "none", resize=32, crop=0, hflip=False,
                             darken_gamma=[1.0, 1.0], contrast_size=32).get(0, torch.Generator())
    assert "negative" not in undarkened and undarkened["low"].shape == (3, 32, 32)
    assert dataset.describe()["contrast"]["positives"] == len(pools.positives)


def test_flat_folder_is_split_by_brightness(data_root):
    pools = load_contrast_pools(data_root / "SICE_part1", (0.25, 0.4, 0.6, 0.75))
    assert pools.positives and pools.under and pools.over
    assert not set(pools.positives) & set(pools.under + pools.over)
    assert pools.negatives("under") == pools.under and pools.negatives("none") == []


def test_two_folder_and_sice_scene_layouts(tmp_path):
    two = tmp_path / "two"
    _save(np.full((8, 8, 3), 0.5), two / "positives" / "p.png")
    _save(np.full((8, 8, 3), 0.1), two / "negatives" / "dark.png")
    _save(np.full((8, 8, 3), 0.9), two / "negatives" / "bright.png")
    pools = load_contrast_pools(two)
    assert [p.name for p in pools.under] == ["dark.png"] and [p.name for p in pools.over] == ["bright.png"]

    sice = tmp_path / "sice"
    for scene in ("1", "2"):
        for k, level in enumerate((0.05, 0.3, 0.6, 0.95)):
            _save(np.full((8, 8, 3), level), sice / scene / f"{k + 1}.png")
        _save(np.full((8, 8, 3), 0.5), sice / "Label" / f"{scene}.png")
    pools = load_contrast_pools(sice)
    assert [p.parent.name for p in pools.positives] == ["Label", "Label"]
    assert [p.name for p in pools.under] == ["1.png", "1.png"] and [p.name for p in pools.over] == ["4.png", "4.png"]


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetUnavailable, match="leftImg8bit"):
        cityscapes_pairs(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetUnavailable, match="no positive"):
        load_contrast_pools(tmp_path / "empty")


# -- trainer -------------------------------------------------------------------------------


def test_missing_pretrained_feature_nets_is_a_clear_error(isolated_weights, tmp_path):
    config = TrainConfig.from_dict({"method": {"feature_nets": "pretrained"}}, SCLLLETrainer)
    with pytest.raises(WeightsNotFound) as info:
        SCLLLETrainer(config, TrainContext(device=torch.device("cpu"), out=tmp_path))
    message = str(info.value)
    assert VGG16_IMAGENET_WEIGHTS.filename in message and VGG16_IMAGENET_WEIGHTS.url in message
    assert f"save it as {isolated_weights}/" in message  # where to put the file, not only what it is


def test_missing_deeplab_is_a_clear_error_once_vgg_is_found(isolated_weights, tmp_path):
    """VGG-16 is resolved first; with it present, the trainer names the DeepLab file, its URL and directory."""
    vgg = tmp_path / "vgg16_features.pth"  # randomly initialised, in torchvision's key layout
    torch.save({f"features.{k}": v for k, v in VGGFeatures(16, normalize=True).layers.state_dict().items()}, vgg)
    config = TrainConfig.from_dict({"method": {"feature_nets": "pretrained", "vgg_weights": str(vgg)}}, SCLLLETrainer)
    with pytest.raises(WeightsNotFound) as info:
        SCLLLETrainer(config, TrainContext(device=torch.device("cpu"), out=tmp_path))
    message = str(info.value)
    assert DEEPLAB_CITYSCAPES_WEIGHTS.filename in message and DEEPLAB_CITYSCAPES_WEIGHTS.url in message
    assert f"save it as {isolated_weights}/" in message
    without_lsc = TrainConfig.from_dict({"method": {"vgg_weights": str(vgg), "l_sc": False}}, SCLLLETrainer)
    trainer = SCLLLETrainer(without_lsc, TrainContext(device=torch.device("cpu"), out=tmp_path))
    assert trainer.segmenter is None and list(trainer.weights_used()) == [vgg.name]


def test_bad_switch_values_are_refused(tmp_path):
    context = TrainContext(device=torch.device("cpu"), out=tmp_path)
    for key, value in (("compat", "papers"), ("negatives", "some"), ("feature_nets", "imagenet")):
        with pytest.raises(LLEBenchError, match=key):
            SCLLLETrainer(tiny_config(**{key: value}), context)


def test_gradient_paths_paper_vs_official(data_root, tmp_path):
    """Paper: the segmentation CE reaches the enhancer. Official: it is a detached constant."""
    context = TrainContext(device=torch.device("cpu"), out=tmp_path, data_root=data_root)
    for compat, ce_has_grad in (("paper", True), ("official", False)):
        trainer = SCLLLETrainer(tiny_config(compat=compat), context)
        batch = _fixed_batch(trainer)
        terms = trainer.training_step(trainer.build_model(), batch).logs
        assert terms["segmentation_ce"].requires_grad is ce_has_grad
        assert all(t.requires_grad for name, t in terms.items() if name != "segmentation_ce")


def _fixed_batch(trainer: SCLLLETrainer) -> dict[str, torch.Tensor]:
    dataset = trainer.train_dataset()
    items = [dataset.get(i, torch.Generator().manual_seed(100 + i)) for i in range(2)]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


ABLATIONS = {
    "paper": {},
    "official": {"compat": "official"},
    "wo_lcc": {"l_cc": False},
    "wo_lsc": {"l_sc": False},
    "wo_lfr": {"l_fr": False},
    "wo_neg": {"negatives": "none"},
    "wo_over_neg": {"negatives": "under"},
    "wo_under_neg": {"negatives": "over"},
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(ABLATIONS))
def test_training_lowers_the_loss(variant, data_root, tmp_path):
    config = tiny_config(**ABLATIONS[variant])
    context = TrainContext(device=torch.device("cpu"), out=tmp_path, data_root=data_root)
    judge = SCLLLETrainer(config, context)  # same seed -> same random feature nets as the run's
    batch = _fixed_batch(judge)
    torch.manual_seed(int(config.train["seed"]))
    initial = judge.build_model()  # the engine seeds identically before build_model
    with torch.no_grad():
        before = judge.training_step(initial, batch).loss.item()
    result = train(SCLLLETrainer, config, tmp_path / "run", context=Context(data_root=data_root))
    exported = torch.load(result.model, map_location="cpu", weights_only=True)
    assert exported["untrained"] is True and exported["method"] == "scl_lle"
    trained = DCENet()
    trained.load_state_dict(exported["model"])
    with torch.no_grad():
        after = judge.training_step(trained, batch).loss.item()
    assert after < before, f"{variant}: loss {before:.5f} -> {after:.5f}"


@pytest.mark.slow
def test_cli_train_with_the_shipped_config_marks_random_feature_nets(data_root, tmp_path):
    out = tmp_path / "run"
    overrides = ["train.iterations=2", "train.progress=false", "train.num_workers=0", "data.resize=0",
                 "data.crop=64", "data.contrast_size=64", "validation.dataset=\"\""]
    argv = ["train", "scl_lle", "--config", str(REPO / "configs" / "train" / "scl_lle.toml"), "--out", str(out),
            "--data-root", str(data_root), "--feature-nets", "random"]
    for item in overrides:
        argv += ["--set", item]
    assert cli_main(argv) == 0
    checkpoint = torch.load(out / "checkpoints" / "iter_0000002.pt", map_location="cpu", weights_only=True)
    assert checkpoint["untrained"] is True
    with pytest.raises(LLEBenchError, match="allow-untrained"):
        SCLLLE(weights=out / "model.pt")
    assert SCLLLE(weights=out / "model.pt", allow_untrained=True).untrained


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*/scl_lle*.toml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    config = TrainConfig.load(path, SCLLLETrainer)
    assert config.train["batch_size"] == 2 and config.optimizer["name"] == "adam" and config.optimizer["lr"] == 1e-4
    assert config.method["feature_nets"] == "pretrained" and config.scheduler["name"] == "none"


def test_shipped_paper_and_official_configs_state_their_recipes():
    paper = TrainConfig.load(REPO / "configs" / "train" / "scl_lle.toml", SCLLLETrainer)
    official = TrainConfig.load(REPO / "configs" / "train" / "scl_lle_official.toml", SCLLLETrainer)
    for config in (paper, official):
        m = config.method
        assert m["l_cc"] and m["l_sc"] and m["l_fr"] and m["negatives"] == "both"
        assert config.data["hflip"] and config.data["contrast_size"] == 384
    # the paper: 384x384 resize, a fixed lr 1e-4, 50 epochs of the 2,975 Cityscapes train images at batch 2
    assert paper.method["compat"] == "paper" and paper.data["resize"] == 384 and paper.data["crop"] == 0
    assert paper.optimizer["weight_decay"] == 0 and paper.train["grad_clip"] == 0
    assert paper.train["iterations"] == 50 * -(-2975 // 2) == 74400
    # the official train.py: weight decay 1e-4, clip 0.1, random 384 crops of full-size images, no darkening
    assert official.method["compat"] == "official"
    assert official.optimizer["weight_decay"] == 1e-4 and official.train["grad_clip"] == 0.1
    assert official.data["resize"] == 0 and official.data["crop"] == 384
    assert official.data["darken_gamma"] == [1.0, 1.0] and official.train["iterations"] == 50000


#: Table 3's ablation files and the one switch each sets (the rest of ABLATIONS are the two recipes)
ABLATION_FILES = {f"scl_lle_{variant}.toml": switch for variant, switch in ABLATIONS.items()
                  if variant not in ("paper", "official")}


def test_every_ablation_file_is_listed():
    assert sorted(p.name for p in (REPO / "configs" / "ablation").glob("*.toml")) == sorted(ABLATION_FILES)


@pytest.mark.parametrize("name", sorted(ABLATION_FILES))
def test_ablation_file_is_the_paper_config_with_exactly_its_switch(name):
    base = TrainConfig.load(REPO / "configs" / "train" / "scl_lle.toml", SCLLLETrainer).to_dict()
    ablation = TrainConfig.load(REPO / "configs" / "ablation" / name, SCLLLETrainer).to_dict()
    assert ablation.pop("losses") == base.pop("losses") == []
    changed = {f"{table}.{key}": value for table, values in ablation.items()
               for key, value in values.items() if value != base[table][key]}
    assert changed == {f"method.{key}": value for key, value in ABLATION_FILES[name].items()}


@pytest.mark.slow
def test_shared_sice_part1_brightness_split(shared_data):
    """The documented split of the flat ../shared SICE_part1 gives all three pools."""
    pools = load_contrast_pools(shared_data / "SICE_part1")
    assert (len(pools.under), len(pools.positives), len(pools.over)) == (688, 413, 297)


def _killed_then_resumed(trainer_cls, config, out: Path, kill_at: int, **train_kwargs):
    """train() interrupted before 0-based iteration ``kill_at``, then ``--resume``: the resumed result."""
    original = trainer_cls.training_step

    def killed(self, model, batch):
        if self.context.iteration == kill_at:
            raise KeyboardInterrupt
        return original(self, model, batch)

    trainer_cls.training_step = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            train(trainer_cls, config, out, **train_kwargs)
    finally:
        trainer_cls.training_step = original
    return train(trainer_cls, config, out, resume=True, **train_kwargs)


@pytest.mark.slow
def test_resume_is_bit_identical_with_random_crops_and_negatives(data_root, tmp_path):
    """Crops, flips, darkening and the positives/negatives re-drawn each iteration all continue exactly."""
    config = tiny_config()
    config.train["checkpoint_every"] = 3
    straight = train(SCLLLETrainer, config, tmp_path / "straight", context=Context(data_root=data_root))
    resumed = _killed_then_resumed(SCLLLETrainer, config, tmp_path / "resumed", kill_at=4, context=Context(data_root=data_root))
    a = torch.load(straight.model, map_location="cpu", weights_only=True)["model"]
    b = torch.load(resumed.model, map_location="cpu", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert log_rows(tmp_path / "straight") == log_rows(tmp_path / "resumed")


def log_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "train_log.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]
