"""SSLL building blocks: UNet, CutMix, PICo, masked consistency, EMA decay, ramp, data views."""

from __future__ import annotations

from llebench.context import Context

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llebench.errors import DatasetUnavailable, LLEBenchError, RunConfigError
from llebench.training import TrainConfig, TrainContext
from llebench_datasets.paired import LOLv2Real
from llebench_ssll import backbones, cutmix, losses, schedules
from llebench_ssll.data import random_crop_flip, student_view
from llebench_ssll.trainer import SSLLTrainer
from llebench_ssll.supervised import SupervisedLoss, parse_terms
from llebench_ssll.unet import ChannelNorm, UNet


# -- UNet -----------------------------------------------------------------------------------

def test_unet_channels_follow_width_and_residual_is_global():
    net = UNet(width=4)
    assert [net.inc.double_conv[0].out_channels, net.down1.maxpool_conv[1].double_conv[0].out_channels,
            net.down4.maxpool_conv[1].double_conv[0].out_channels] == [4, 8, 64]
    assert isinstance(net.up1.up, torch.nn.ConvTranspose2d) and net.up1.up.kernel_size == (2, 2)
    # zero output conv: the network is exactly the identity (x + 0), no activation on top
    torch.nn.init.zeros_(net.outc.conv.weight)
    torch.nn.init.zeros_(net.outc.conv.bias)
    x = torch.rand(1, 3, 32, 32) * 3 - 1  # outside [0,1] stays outside: clamping is the caller's
    assert torch.equal(net(x), x)


def test_unet_paper_width_has_1024_bottleneck_channels():
    net = UNet(width=64)
    assert net.down4.maxpool_conv[1].double_conv[3].out_channels == 1024
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


@pytest.mark.parametrize("size", [(16, 16), (37, 53), (50, 19)])
def test_unet_pads_up_path_to_skip_size(size):
    out = UNet(width=2)(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *size)


def test_unet_refuses_tiny_inputs():
    with pytest.raises(ValueError, match="16x16"):
        UNet(width=2)(torch.rand(1, 3, 8, 40))


def test_channel_norm_normalises_each_pixel_over_channels():
    norm = ChannelNorm(5)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 6.0))
        norm.bias.copy_(torch.full((5,), 0.5))
    x = torch.randn(2, 5, 3, 4)
    mean = x.mean(1, keepdim=True)
    var = x.var(1, keepdim=True, unbiased=False)
    expected = (x - mean) / torch.sqrt(var + 1e-5) * norm.weight[:, None, None] + 0.5
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)


def test_backbone_registry_builds_and_rejects():
    assert isinstance(backbones.build_backbone("unet", {"width": 4}), UNet)
    with pytest.raises(LLEBenchError, match="unknown SSLL backbone 'nope'.*unet"):
        backbones.build_backbone("nope")
    with pytest.raises(LLEBenchError, match="bad options"):
        backbones.build_backbone("unet", {"depth": 3})


def test_backbone_registration_by_another_plugin(monkeypatch):
    monkeypatch.setattr(backbones, "_BACKBONES", dict(backbones._BACKBONES))

    @backbones.register_backbone("identity_test")
    def identity():
        return torch.nn.Identity()

    assert "identity_test" in backbones.backbone_names()
    with pytest.raises(LLEBenchError, match="twice"):
        backbones.register_backbone("identity_test")(lambda: torch.nn.Identity())


# -- CutMix ---------------------------------------------------------------------------------

def test_cutmix_area_distribution_is_clipped_normal():
    g = torch.Generator().manual_seed(0)
    mu = 0.4
    areas = torch.tensor([cutmix.sample_area(mu, g) for _ in range(20000)])
    assert areas.min() == 0.1 and areas.max() == 0.9
    # P(r = 0.1) = Phi((0.1 - mu)/1), P(r = 0.9) = 1 - Phi((0.9 - mu)/1)
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert abs(float((areas == 0.1).float().mean()) - phi(0.1 - mu)) < 0.015
    assert abs(float((areas == 0.9).float().mean()) - (1 - phi(0.9 - mu))) < 0.015
    inner = areas[(areas > 0.1) & (areas < 0.9)]
    # the unclipped part is N(mu, 1) truncated to (0.1, 0.9): nearly flat around mu
    assert abs(float(inner.mean()) - 0.5) < 0.02


def test_cutmix_mean_area_follows_mu():
    g = torch.Generator().manual_seed(1)
    high = sum(cutmix.sample_area(1.0, g) for _ in range(4000)) / 4000
    low = sum(cutmix.sample_area(0.0, g) for _ in range(4000)) / 4000
    assert high > low + 0.1


def test_cutmix_box_side_and_mask_and_pixels():
    g = torch.Generator().manual_seed(3)
    n, p = 4, 40
    unpaired_s, unpaired_t, paired = torch.rand(n, 3, p, p), torch.rand(n, 3, p, p), torch.rand(n, 3, p, p)
    mixed = cutmix.cutmix(unpaired_s, unpaired_t, paired, 0.5, g)
    assert mixed.paired_mask.shape == (n, 1, p, p)
    for i, area in enumerate(mixed.areas):
        mask = mixed.paired_mask[i, 0].bool()
        side = math.floor(p * math.sqrt(area))
        assert int(mask.sum()) == side * side  # a full square inside the crop
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        assert int(rows.max() - rows.min() + 1) == side == int(cols.max() - cols.min() + 1)
        m3 = mask.expand(3, p, p)
        assert torch.equal(mixed.student[i][m3], paired[i][m3])
        assert torch.equal(mixed.teacher[i][m3], paired[i][m3])
        assert torch.equal(mixed.student[i][~m3], unpaired_s[i][~m3])
        assert torch.equal(mixed.teacher[i][~m3], unpaired_t[i][~m3])


def test_cutmix_box_positions_cover_the_crop_uniformly():
    g = torch.Generator().manual_seed(4)
    tops = [cutmix.sample_box(20, 20, 0.25, g)[0] for _ in range(3000)]  # side 10: top in 0..10
    assert min(tops) == 0 and max(tops) == 10
    counts = torch.bincount(torch.tensor(tops), minlength=11).float()
    assert float(counts.min()) > 0.6 * float(counts.mean())


def test_cutmix_official_placement_clips_at_borders():
    g = torch.Generator().manual_seed(5)
    boxes = [cutmix.sample_box(32, 32, 0.81, g, "official") for _ in range(300)]
    assert all(0 <= t < b <= 32 and 0 <= l < r <= 32 for t, l, b, r in boxes if b > t and r > l)
    sizes = {(b - t) * (r - l) for t, l, b, r in boxes}
    assert max(sizes) <= (2 * (math.floor(32 * 0.9) // 2)) ** 2 and min(sizes) < max(sizes)


def test_cutmix_refuses_mismatched_crops():
    with pytest.raises(ValueError, match="one size"):
        cutmix.cutmix(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 9, 8), 0.5,
                      torch.Generator())


# -- losses ---------------------------------------------------------------------------------

def test_masked_l1_normalises_by_region_size():
    a = torch.zeros(1, 3, 4, 4)
    b = torch.zeros(1, 3, 4, 4)
    b[..., :2, :] = 1.0  # differs by 1 on the top half only
    top = torch.zeros(1, 1, 4, 4)
    top[..., :2, :] = 1
    assert float(losses.masked_l1(a, b, top)) == pytest.approx(1.0)  # not 0.5: mean over the region
    assert float(losses.masked_l1(a, b, 1 - top)) == pytest.approx(0.0)
    assert float(losses.masked_l1(a, b)) == pytest.approx(0.5)
    small = torch.zeros(1, 1, 4, 4)
    small[..., 0, 0] = 1
    assert float(losses.masked_l1(a, b, small)) == pytest.approx(1.0)  # same value for a 1-pixel region
    with pytest.raises(ValueError, match="empty mask"):
        losses.masked_l1(a, b, torch.zeros(1, 1, 4, 4))


def test_consistency_loss_is_batch_mean_over_unpaired_region_and_teacher_is_a_target():
    student = torch.zeros(2, 3, 4, 4, requires_grad=True)
    teacher = torch.full((2, 3, 4, 4), 0.5, requires_grad=True)
    mask = torch.zeros(2, 1, 4, 4)
    mask[0, :, :1] = 1  # 4 pixels
    mask[1] = 1         # 16 pixels
    loss = losses.consistency_loss(student, teacher, mask)
    assert float(loss.detach()) == pytest.approx(0.5)
    loss.backward()
    assert teacher.grad is None and student.grad is not None
    assert float(student.grad[0][:, 1:].abs().sum()) == 0.0  # paired pixels get no gradient


def test_similarity_values():
    d = torch.tensor([0.0, 0.5, 1.5])
    torch.testing.assert_close(losses.similarity(d), torch.tensor([1.0, 0.0, -0.5]))


def test_pico_hand_computed_paired_case():
    anchor = torch.zeros(1, 3, 2, 2)
    positive = torch.full((1, 3, 2, 2), 0.5)  # d_p = 0.5 -> s_p = 0
    negative = torch.full((1, 3, 2, 2), 1.5)  # d_n = 1.5 -> s_n = -0.5
    value = losses.pico_loss(anchor, positive, negative, gamma=10.0, margin=-0.25)
    assert float(value) == pytest.approx(math.log1p(math.exp(10 * (-0.5 - 0 - 0.25))))  # softplus(-7.5)


def test_pico_margin_sign():
    anchor = torch.zeros(1, 3, 2, 2)
    same = torch.full((1, 3, 2, 2), 0.25)  # d_p = d_n: s_n - s_p = 0, only the margin remains
    positive_margin = losses.pico_loss(anchor, same, same, gamma=10.0, margin=0.25)
    negative_margin = losses.pico_loss(anchor, same, same, gamma=10.0, margin=-0.25)
    assert float(positive_margin) == pytest.approx(math.log1p(math.exp(2.5)))
    assert float(negative_margin) == pytest.approx(math.log1p(math.exp(-2.5)))
    # a positive margin demands more separation: larger loss for the same distances
    assert float(positive_margin) > float(negative_margin)


def test_pico_gradient_pulls_anchor_to_positive_and_masks():
    anchor = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    positive = torch.full((1, 3, 4, 4), 0.8)
    negative = torch.full((1, 3, 4, 4), 0.1)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 2:, :] = 1
    losses.pico_loss(anchor, positive, negative, 10.0, 0.25, mask).backward()
    grad = anchor.grad[0]
    assert float(grad[:, :2].abs().sum()) == 0.0          # no gradient outside the mask
    assert bool((grad[:, 2:] < 0).all())                   # descent raises the anchor towards 0.8


def test_match_brightness_scales_to_reference_mean():
    image = torch.rand(2, 3, 5, 5) * 0.2
    reference = torch.rand(2, 3, 5, 5)
    scaled = losses.match_brightness(image, reference)
    torch.testing.assert_close(scaled.flatten(1).mean(1), reference.flatten(1).mean(1))


def test_ssim_matches_pyiqa_rgb_ssim():
    from pyiqa.archs.ssim_arch import ssim as pyiqa_ssim

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 48, 48, generator=g)
    y = (x + 0.1 * torch.randn(2, 3, 48, 48, generator=g)).clamp(0, 1)
    ours = losses.ssim(x, y)
    ref = pyiqa_ssim(x, y)  # RGB, Gaussian 11/1.5, 'valid' (its relu on c*s is inactive here)
    torch.testing.assert_close(ours, ref.flatten(), rtol=1e-4, atol=1e-4)
    assert float(losses.ssim_loss(x, x)) == pytest.approx(0.0, abs=1e-6)


def test_supervised_loss_terms():
    assert parse_terms("ssim + l1") == ("ssim", "l1")
    for bad in ("", "ssim+ssim", "mse"):
        with pytest.raises(RunConfigError):
            parse_terms(bad)
    loss, parts = SupervisedLoss("ssim+l1")(torch.zeros(1, 3, 16, 16), torch.full((1, 3, 16, 16), 0.25))
    assert set(parts) == {"ssim", "l1"} and float(parts["l1"]) == pytest.approx(0.25)
    assert float(loss) == pytest.approx(float(parts["ssim"] + parts["l1"]))


def test_lpips_term_missing_files_names_them(isolated_weights):
    with pytest.raises(LLEBenchError, match="alex"):
        SupervisedLoss("ssim+lpips")


# -- schedules ------------------------------------------------------------------------------

def test_ema_decay_schedule():
    assert schedules.ema_decay(0) == 0.0           # first update copies the student
    assert schedules.ema_decay(1) == 0.5
    assert schedules.ema_decay(9) == pytest.approx(0.9)
    assert schedules.ema_decay(99) == pytest.approx(0.99)
    assert schedules.ema_decay(10_000) == 0.99
    assert schedules.ema_decay(10_000, 0.999) == 0.999
    with pytest.raises(ValueError):
        schedules.ema_decay(-1)


def test_ema_update_with_engine_ema_follows_the_true_average():
    from llebench.training.ema import EMA

    student = torch.nn.Linear(1, 1, bias=False)
    ema = EMA(student, 0.99)
    seen = []
    for step, value in enumerate([2.0, 4.0, 9.0]):
        with torch.no_grad():
            student.weight.fill_(value)
        seen.append(value)
        ema.decay = schedules.ema_decay(step)
        ema.update(student)
        # min(1 - 1/(t+1), a) makes the teacher the running mean of the student's weights
        assert float(ema.module.weight) == pytest.approx(sum(seen) / len(seen))


def test_ramp_values():
    assert schedules.ramp(0, 100) == pytest.approx(math.exp(-5))
    assert schedules.ramp(50, 100) == pytest.approx(math.exp(-5 * 0.25))
    assert schedules.ramp(100, 100) == 1.0
    assert schedules.ramp(250, 100) == 1.0
    assert schedules.ramp(201, 700) == pytest.approx(math.exp(-5 * (1 - 201 / 700) ** 2))
    assert schedules.ramp(5, 0) == 1.0


def test_cutmix_mu_decreases_linearly_from_one():
    assert schedules.cutmix_mu(0, 0, 100) == 1.0
    assert schedules.cutmix_mu(25, 0, 100) == 0.75
    assert schedules.cutmix_mu(100, 0, 100) == 0.0
    with pytest.raises(ValueError):
        schedules.cutmix_mu(0, 5, 5)


# -- data -----------------------------------------------------------------------------------

def test_random_crop_flip_keeps_pairs_aligned():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 30, 40)
    b = a * 2
    for _ in range(10):
        ca, cb = random_crop_flip([a, b], 16, g)
        assert ca.shape == (3, 16, 16)
        torch.testing.assert_close(cb, ca * 2)


def test_student_view_noise_is_zero_mean_and_teacher_untouched():
    g = torch.Generator().manual_seed(0)
    crop = torch.full((3, 64, 64), 0.3)
    view = student_view(crop, "noise", g)
    assert torch.equal(crop, torch.full((3, 64, 64), 0.3))
    diff = view - crop
    expected_std = math.sqrt(0.004 * 0.3 + 0.01**2)
    assert abs(float(diff.mean())) < 0.003
    assert float(diff.std()) == pytest.approx(expected_std, rel=0.05)
    assert torch.equal(student_view(crop, "identical", g), crop)
    with pytest.raises(ValueError):
        student_view(crop, "blur", g)


REPO = Path(__file__).resolve().parents[1]


def make_lolv2_real(root: Path, count: int = 3) -> Path:
    """LOL-v2 Real's published layout and names (``Low/low00001.png`` <-> ``Normal/normal00001.png``),
    SID-style unpaired images, all just above the 192 px crop; reference i is a flat grey of level i."""
    train = root / "LOL-v2" / "Real_captured" / "Train"
    for sub in ("Low", "Normal"):
        (train / sub).mkdir(parents=True)
    (root / "SID" / "low").mkdir(parents=True)
    for i in range(1, count + 1):
        level = 60 * i
        Image.fromarray(np.full((196, 200, 3), level, np.uint8)).save(train / "Normal" / f"normal{i:05d}.png")
        Image.fromarray(np.full((196, 200, 3), level // 4, np.uint8)).save(train / "Low" / f"low{i:05d}.png")
        Image.fromarray(np.full((200, 200, 3), 10, np.uint8)).save(root / "SID" / "low" / f"{i:05d}.png")
    return root


@pytest.mark.parametrize("name", ["ssll_unet_baseline.toml", "ssll_unet_semi.toml"])
def test_paper_configs_pair_lolv2_real_like_the_dataset_plugin(tmp_path, name):
    data = make_lolv2_real(tmp_path / "data")
    init = tmp_path / "stage1.pt"  # stands for stage 1's model.pt (read, not built, by train_dataset)
    torch.save({"model": UNet(width=2).state_dict(), "iteration": 1}, init)
    # LPIPS files are not available offline; the data section is what is under test
    config = TrainConfig.load(REPO / "configs" / "train" / name, SSLLTrainer,
                              {"method.sup_loss": "ssim+l1", "method.init": str(init)})
    trainer = SSLLTrainer(config, TrainContext(device=torch.device("cpu"), out=tmp_path, data_root=data))
    dataset = trainer.train_dataset()
    pairs = [(low.name, high.name) for low, high in zip(dataset.pairs.files, dataset.pairs.high, strict=True)]
    assert pairs == [(f"low{i:05d}.png", f"normal{i:05d}.png") for i in (1, 2, 3)]
    plugin = LOLv2Real(Context(data_root=data), split="train").pairs
    assert pairs == [(p.input.name, p.reference.name) for p in plugin.values()]
    item = dataset.get(2, torch.Generator().manual_seed(0))
    assert item["low"].shape == item["gt"].shape == (3, 192, 192)
    assert torch.allclose(item["gt"], torch.full_like(item["gt"], 180 / 255))
    assert torch.allclose(item["low"], torch.full_like(item["low"], 45 / 255))
    assert ("student" in item) is (config.method["stage"] == "semi")


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "train").glob("ssll_*.toml")), ids=lambda p: p.name)
def test_shipped_configs_state_the_paper_recipe(path):
    """AdamW 2e-4 (the authors' weight decay 0), cosine to 1e-6, batch 3 (+3 unpaired), EMA a = 0.99."""
    config = TrainConfig.load(path, SSLLTrainer)
    o, m, d = config.optimizer, config.method, config.data
    assert (o["name"], o["lr"], o["weight_decay"], o["betas"]) == ("adamw", 2e-4, 0.0, [0.9, 0.999])
    assert config.scheduler["name"] == "cosine" and config.scheduler["min_lr"] == 1e-6
    assert config.train["batch_size"] == 3 and config.train["ema_decay"] == 0.99
    if m["stage"] == "semi":  # each item carries one unpaired crop: 3 paired + 3 unpaired
        assert d["unpaired"] and (m["lambda_p"], m["lambda_u"], m["gamma"]) == (0.1, 0.1, 10.0)
        assert (m["margin_paired"], m["margin_unpaired"]) == (-0.25, 0.25)
    if "cpu" in path.stem:  # the documented CPU experiment: a width-8 UNet on 96 px crops, no LPIPS files
        assert d["crop_size"] == 96 and m["backbone_options"] == {"width": 8} and m["sup_loss"] == "ssim+l1"
    else:
        assert d["crop_size"] == 192 and m["backbone_options"] == {"width": 64} and m["sup_loss"] == "ssim+lpips"
        assert d["paired_low"] == "LOL-v2/Real_captured/Train/Low"
        assert d["paired_high"] == "LOL-v2/Real_captured/Train/Normal"


def test_paired_folders_name_the_missing_reference(tmp_path):
    data = make_lolv2_real(tmp_path / "data")
    (data / "LOL-v2" / "Real_captured" / "Train" / "Normal" / "normal00002.png").unlink()
    config = TrainConfig.load(REPO / "configs" / "train" / "ssll_unet_baseline.toml", SSLLTrainer,
                              {"method.sup_loss": "ssim+l1"})
    trainer = SSLLTrainer(config, TrainContext(device=torch.device("cpu"), out=tmp_path, data_root=data))
    with pytest.raises(DatasetUnavailable, match=r"Normal: no reference for low00002\.png of .*Low"):
        trainer.train_dataset()


# -- report pairing -------------------------------------------------------------------------

def test_delta_report_pairs_models_evaluated_the_same_way():
    from llebench.report.tables import Cell
    from llebench_ssll.report import baseline_for, delta_cell, split_methods

    def entry(stage, network):
        return {"settings": {"stage": stage, "network": network}}

    methods = {"baseline": entry("supervised", "exported"), "ssll": entry("semi", "exported"),
               "baseline_teacher": entry("supervised", "teacher (EMA)"), "ssll_teacher": entry("semi", "teacher (EMA)"),
               "input": {"settings": {}}}
    baselines, ssll = split_methods(methods)
    assert baselines == ["baseline", "baseline_teacher"] and ssll == ["ssll", "ssll_teacher"]
    assert baseline_for("ssll", baselines, methods) == "baseline"
    assert baseline_for("ssll_teacher", baselines, methods) == "baseline_teacher"
    better = delta_cell(Cell("21.31", 21.31), Cell("20.01", 20.01), False, "")
    assert better.text == "+1.300" and "better" in better.note
    worse = delta_cell(Cell("4.0", 4.0), Cell("3.5", 3.5), True, ".3f")
    assert worse.text == "+0.500" and "worse" in worse.note
