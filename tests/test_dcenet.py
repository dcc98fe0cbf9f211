"""DCE-Net: architecture, official state_dicts, checkpoint handling."""

from __future__ import annotations

import pytest
import torch

from llebench.errors import LLEBenchError
from llebench_dcenet.dcenet import DCENet
from llebench.statedict import flush_subnormals, load_state_dict
from llebench_dcenet.enhancers import SCLLLE, ZeroDCE


def test_parameter_count_matches_the_official_network():
    assert sum(p.numel() for p in DCENet().parameters()) == 79_416


def test_curve_iteration_is_the_quadratic_le_curve():
    net = DCENet()
    x = torch.rand(1, 3, 5, 7)
    curves = torch.rand(1, 24, 5, 7) * 2 - 1
    expected = x.clone()
    for n in range(8):
        r = curves[:, 3 * n:3 * n + 3]
        expected = expected + r * (expected ** 2 - expected)
    assert torch.equal(net.apply_curves(x, curves), expected)


def test_official_weights_load_unchanged(shared_weights):
    for path in (shared_weights / "zero_dce_epoch99.pth", shared_weights / "scl_lle.pth"):
        state, meta = load_state_dict(path)
        state = flush_subnormals(state)
        raw = torch.load(path, map_location="cpu", weights_only=True)
        assert meta == {} and state.keys() == raw.keys()
        net = DCENet()
        net.load_state_dict(state)
        x = torch.rand(1, 3, 32, 48) * 0.3
        reference = DCENet()
        reference.load_state_dict(raw)
        with torch.inference_mode():  # flushing subnormal weights changes no output bit
            assert torch.equal(net(x)[0], reference(x)[0])


def test_subnormals_are_flushed():
    t = torch.tensor([1e-40, -1e-39, 1e-30, 0.5])
    assert flush_subnormals({"t": t})["t"].tolist() == [0.0, 0.0, pytest.approx(1e-30), 0.5]


def test_training_checkpoint_format_and_untrained_refusal(tmp_path):
    net = DCENet()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": {f"module.{k}": v for k, v in net.state_dict().items()}, "untrained": True}, path)
    with pytest.raises(LLEBenchError, match="--allow-untrained"):
        ZeroDCE(weights=path)
    enhancer = ZeroDCE(weights=path, allow_untrained=True)
    assert enhancer.settings()["untrained"] is True
    assert enhancer.enhance(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(LLEBenchError, match="bad.pth"):
        SCLLLE(weights=bad)


def test_malicious_pickle_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"model": Evil()}, fh)
    with pytest.raises(LLEBenchError, match="weights-only"):
        load_state_dict(path)


@pytest.mark.parametrize("native", [True, False])
def test_bf16_variant_is_close_to_fp32_and_warns_where_it_is_emulated(shared_weights, native, monkeypatch):
    import warnings

    import llebench.precision

    monkeypatch.setattr(llebench.precision, "native_cpu_support", lambda precision: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        half = ZeroDCE(weights=shared_weights / "zero_dce_epoch99.pth", precision="bf16")
    assert [str(w.message) for w in caught if "no native bf16" in str(w.message)] == ([] if native else
                                                                                      [str(caught[0].message)])
    full = ZeroDCE(weights=shared_weights / "zero_dce_epoch99.pth")
    assert half.variant == "bf16" and full.variant == ""
    image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0)) * 0.3
    with torch.inference_mode():
        a, b = full.enhance(image), half.enhance(image)
    assert b.dtype == torch.float32 and b.shape == a.shape
    mse = float(((a - b) ** 2).mean())
    assert 0 < mse and 10 * torch.log10(torch.tensor(1 / mse)) >= 45
