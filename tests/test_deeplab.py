"""DeepLabV3+ MobileNetV2: VainF checkpoint format, weights resolution, label mapping.

The checkpoints here are saved from randomly initialised networks: they test the loading
path, never the quality of pretrained weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llebench.errors import LLEBenchError, WeightsNotFound
from llebench.sdk.nets import (
    DEEPLAB_CITYSCAPES_WEIGHTS,
    IGNORE_INDEX,
    DeepLabV3PlusMobileNet,
    Segmenter,
    label_ids_to_train_ids,
    load_deeplab,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _randomised_model() -> DeepLabV3PlusMobileNet:
    torch.manual_seed(0)
    model = DeepLabV3PlusMobileNet(num_classes=19, output_stride=16)
    for module in model.modules():  # non-default statistics, so a load that skipped them would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_vainf_layout_and_shapes():
    model = DeepLabV3PlusMobileNet().eval()
    keys = list(model.state_dict())
    assert keys[0] == "backbone.low_level_features.0.0.weight"
    assert "backbone.high_level_features.4.conv.0.0.weight" in keys
    assert "backbone.high_level_features.17.conv.2.weight" in keys
    assert "classifier.aspp.convs.4.1.weight" in keys  # image pooling branch
    assert keys[-1] == "classifier.classifier.3.bias"
    with torch.no_grad():
        assert model(torch.rand(1, 3, 70, 100)).shape == (1, 19, 70, 100)


def test_loads_vainf_checkpoint_through_weights_resolution(tmp_path, monkeypatch):
    reference = _randomised_model()
    ckpt = {"cur_itrs": 1, "model_state": reference.state_dict(), "best_score": 0.0}
    torch.save(ckpt, tmp_path / DEEPLAB_CITYSCAPES_WEIGHTS.filename)
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("LLEBENCH_OFFLINE", "1")
    segmenter = Segmenter.pretrained()
    assert segmenter.weights_path == tmp_path / DEEPLAB_CITYSCAPES_WEIGHTS.filename
    image = torch.rand(2, 3, 64, 80)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference((image - mean) / std)
    assert torch.allclose(segmenter.logits(image), expected, atol=1e-5)
    assert torch.equal(segmenter.predict(image), expected.argmax(1))
    segmenter.train()
    assert not segmenter.model.training, "the frozen network must stay in eval mode"
    assert not any(p.requires_grad for p in segmenter.parameters())


def test_gradient_reaches_the_input_not_the_network(tmp_path):
    path = tmp_path / "seg.pth"
    torch.save({"model_state": {f"module.{k}": v for k, v in _randomised_model().state_dict().items()}}, path)
    segmenter = Segmenter(load_deeplab(path)[0])
    image = torch.rand(1, 3, 48, 48, requires_grad=True)
    segmenter.logits(image).sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_missing_weights_error_names_file_and_url(isolated_weights):
    with pytest.raises(WeightsNotFound) as info:
        Segmenter.pretrained()
    message = str(info.value)
    assert DEEPLAB_CITYSCAPES_WEIGHTS.filename in message and "dropbox.com" in message
    assert f"save it as {isolated_weights}/" in message  # the directory to put it in, not only what it is


def test_wrong_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"model_state": DeepLabV3PlusMobileNet(num_classes=21).state_dict()}, path)
    with pytest.raises(LLEBenchError, match="other.pth"):
        load_deeplab(path)
    torch.save([1, 2], tmp_path / "junk.pth")
    with pytest.raises(LLEBenchError, match="junk.pth"):
        load_deeplab(tmp_path / "junk.pth")


def test_label_ids_to_train_ids():
    ids = np.array([[0, 7, 8, 11, 23, 24, 26, 33], [34, 255, 9, 31, 32, 1, 21, 22]], dtype=np.uint8)
    expected = np.array([[255, 0, 1, 2, 10, 11, 13, 18], [255, 255, 255, 16, 17, 255, 8, 9]], dtype=np.uint8)
    assert np.array_equal(label_ids_to_train_ids(ids), expected)
    mapped = label_ids_to_train_ids(torch.from_numpy(ids))
    assert mapped.dtype == torch.int64 and torch.equal(mapped, torch.from_numpy(expected).long())
    all_ids = label_ids_to_train_ids(np.arange(256, dtype=np.uint8))
    assert sorted(set(all_ids.tolist()) - {IGNORE_INDEX}) == list(range(19))
