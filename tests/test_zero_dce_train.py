"""Zero-DCE losses against the official Myloss.py (golden values) and the trainer's recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from llebench_dcenet.losses import (
    color_constancy_loss,
    exposure_loss,
    illumination_smoothness_loss,
    spatial_consistency_loss,
)
from llebench_dcenet.zero_dce_trainer import ZeroDCETrainer

from llebench.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def test_losses_match_the_official_code(golden_dir):
    golden = np.load(golden_dir / "golden_losses.npz")
    low, enh, curves = (torch.from_numpy(golden[k]) for k in ("low", "enh", "A"))
    ours = {
        "zdce_spa": spatial_consistency_loss(enh, low),
        "zdce_exp": exposure_loss(enh, 16, 0.6),
        "zdce_color": color_constancy_loss(enh),
        "zdce_tv": illumination_smoothness_loss(curves),
    }
    for key, value in ours.items():
        assert float(value) == pytest.approx(float(golden[key]), rel=1e-5), key


def test_recipe_defaults_and_initialisation():
    config = TrainConfig.from_dict({}, ZeroDCETrainer)
    trainer = ZeroDCETrainer(config, None)
    assert trainer.weights == {"spa": 1.0, "exp": 10.0, "col": 5.0, "tv": 200.0}
    paper = ZeroDCETrainer(TrainConfig.from_dict({"method": {"loss_weights": "paper"}}, ZeroDCETrainer), None)
    assert paper.weights == {"spa": 1.0, "exp": 1.0, "col": 0.5, "tv": 20.0}
    torch.manual_seed(0)
    net = trainer.build_model()
    weights = torch.cat([m.weight.detach().flatten() for m in net.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(float(weights.std()) - 0.02) < 0.001 and abs(float(weights.mean())) < 0.001


def test_step_combines_the_four_terms_with_their_weights():
    config = TrainConfig.from_dict({}, ZeroDCETrainer)
    trainer = ZeroDCETrainer(config, None)
    torch.manual_seed(0)
    net = trainer.build_model()
    batch = torch.rand(2, 3, 32, 32) * 0.2
    with torch.no_grad():
        step = trainer.training_step(net, batch)
        enhanced, curves = net(batch)
        expected = (200 * illumination_smoothness_loss(curves) + spatial_consistency_loss(enhanced, batch)
                    + 5 * color_constancy_loss(enhanced) + 10 * exposure_loss(enhanced))
    assert float(step.loss) == pytest.approx(float(expected), rel=1e-6)
    assert set(step.logs) == {"tv", "spa", "col", "exp"}


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "train").glob("zero_dce*.toml")), ids=lambda p: p.name)
def test_shipped_configs_state_the_official_recipe(path):
    """Adam 1e-4, weight decay 1e-4, gradient-norm clip 0.1, batch 8, the official loss weights, SICE Part 1."""
    config = TrainConfig.load(path, ZeroDCETrainer)
    assert config.optimizer["name"] == "adam" and config.optimizer["lr"] == 1e-4
    assert config.optimizer["weight_decay"] == 1e-4 and config.scheduler["name"] == "none"
    assert config.train["grad_clip"] == 0.1 and config.train["batch_size"] == 8
    assert config.method["loss_weights"] == "official" and config.data["root"] == "SICE_part1"
    if "cpu" in path.stem:  # a documented CPU budget: smaller images, same recipe otherwise
        assert config.train["device"] == "cpu" and config.data["image_size"] < 256
    else:  # 512 = the released model's images, 256 = the official loader's default
        assert config.data["image_size"] in (256, 512)
