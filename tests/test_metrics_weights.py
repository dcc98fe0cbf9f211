"""pyiqa's files come from llebench's weights resolution, and `llebench weights` lists/fetches them.

The real backbones (AlexNet, ResNet-34, ...) cannot be obtained here, so the routing is
tested with small files made in tmp_path that are honestly what they are (a saved dict
of two tensors), and with a stand-in for ``pyiqa.create_metric`` that downloads exactly
what pyiqa's LPIPS downloads; no network, no pretend-pretrained weights.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from llebench.cli import main
from llebench.errors import ChecksumMismatch, WeightsNotFound
from llebench_metrics import pyiqa_bridge
from llebench.pyiqa_bridge.files import ALEXNET, LPIPS_ALEX, NIQE_PARAMETERS
from llebench.pyiqa_bridge.loading import routed_downloads


class NotAWeight:
    """Pickling this makes a file that a weights-only load must refuse."""


def save_tensors(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"w": torch.arange(4.0), "b": torch.ones(2)}, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def weights_dir(isolated_weights, tmp_path, monkeypatch) -> Path:
    """An offline world whose $LLEBENCH_WEIGHTS is an empty tmp directory."""
    directory = tmp_path / "weights"
    directory.mkdir()
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(directory))
    return directory


def test_torch_hub_downloads_resolve_through_llebench(weights_dir):
    # torch hub names files NAME-<first 8 hex of sha256>.pth and checks that prefix
    scratch = weights_dir / "scratch.pth"
    prefix = save_tensors(scratch)[:8]
    os.replace(scratch, weights_dir / f"backbone-{prefix}.pth")
    with routed_downloads() as used:
        state = torch.hub.load_state_dict_from_url(f"https://example.invalid/models/backbone-{prefix}.pth",
                                                   check_hash=True)
    assert torch.equal(state["w"], torch.arange(4.0))
    assert used == {f"backbone-{prefix}.pth": weights_dir / f"backbone-{prefix}.pth"}


def test_a_file_not_matching_its_name_hash_is_refused(weights_dir):
    save_tensors(weights_dir / ALEXNET.filename)  # a stand-in: its sha256 does not start with 7be5be79
    with pytest.raises(ChecksumMismatch, match="7be5be79"), routed_downloads():
        torch.hub.load_state_dict_from_url(ALEXNET.url, check_hash=True)


def test_pyiqa_downloads_resolve_and_loads_are_weights_only(weights_dir):
    import pyiqa.utils.download_util as pyiqa_download

    save_tensors(weights_dir / "params.pth")
    torch.save({"x": NotAWeight()}, weights_dir / "pickled.pth")
    original_load, original_hub_dir = torch.load, torch.hub.get_dir()
    with routed_downloads() as used:
        local = pyiqa_download.load_file_from_url("https://example.invalid/pyiqa/params.pth")
        assert Path(local).resolve() == (weights_dir / "params.pth").resolve()
        assert set(torch.load(local, weights_only=False)) == {"w", "b"}  # forced to weights_only
        pickled = pyiqa_download.load_file_from_url("https://example.invalid/pyiqa/pickled.pth")
        with pytest.raises(Exception, match="[Ww]eights only load failed"):
            torch.load(pickled, weights_only=False)
    assert set(used) == {"params.pth", "pickled.pth"}
    assert not os.path.exists(local)  # the private cache is gone, the patches undone
    assert torch.load is original_load and torch.hub.get_dir() == original_hub_dir


def test_files_in_the_users_torch_cache_are_not_used_unverified(weights_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    save_tensors(tmp_path / "torch" / "hub" / "checkpoints" / "other-00000000.pth")
    save_tensors(tmp_path / "torch" / "hub" / "pyiqa" / "UNIQUE.pt")
    import pyiqa.utils.download_util as pyiqa_download

    with pytest.raises(WeightsNotFound, match="other-00000000.pth"), routed_downloads():
        torch.hub.load_state_dict_from_url("https://example.invalid/other-00000000.pth")
    with pytest.raises(WeightsNotFound, match="UNIQUE.pt"), routed_downloads():
        pyiqa_download.load_file_from_url("https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/UNIQUE.pt")


def test_metric_construction_gets_every_file_from_the_weights_directory(weights_dir, monkeypatch):
    """LPIPS's two files, through a stand-in for pyiqa.create_metric that fetches what pyiqa's does."""
    import pyiqa
    import pyiqa.utils.download_util as pyiqa_download

    linear_sha = save_tensors(weights_dir / LPIPS_ALEX.filename)
    backbone_sha = save_tensors(weights_dir / ALEXNET.filename)
    monkeypatch.setattr("llebench.weights.hash_prefix", lambda name: None)  # stand-in files, not the published
    loaded = {}

    def fake_create_metric(name, device=None, as_loss=False, **options):
        assert name == "lpips" and options == {}
        loaded["linear"] = torch.load(pyiqa_download.load_file_from_url(LPIPS_ALEX.url), weights_only=False)
        loaded["backbone"] = torch.hub.load_state_dict_from_url(ALEXNET.url, check_hash=True)
        return torch.nn.Identity()

    monkeypatch.setattr(pyiqa, "create_metric", fake_create_metric)
    metric = pyiqa_bridge.LPIPS()
    assert set(loaded) == {"linear", "backbone"} and torch.equal(loaded["backbone"]["b"], torch.ones(2))
    assert metric.settings()["files"] == {ALEXNET.filename: backbone_sha, LPIPS_ALEX.filename: linear_sha}


def test_metric_missing_one_of_two_files_names_it(weights_dir, monkeypatch):
    monkeypatch.setattr("llebench.weights.hash_prefix", lambda name: None)  # a stand-in, not the published file
    save_tensors(weights_dir / LPIPS_ALEX.filename)
    with pytest.raises(WeightsNotFound) as info:
        pyiqa_bridge.LPIPS()
    assert ALEXNET.filename in str(info.value) and ALEXNET.url in str(info.value)
    assert LPIPS_ALEX.filename not in str(info.value)


# -- llebench weights ------------------------------------------------------------------------

def block(text: str, filename: str) -> str:
    """The lines `weights list` prints about one file."""
    start = text.index(f"\n{filename}  [")
    end = text.find("\n\n", start + 1)
    return text[start:end if end != -1 else None]


def test_weights_list_shows_state_url_and_checksum(weights_dir, capsys):
    (weights_dir / NIQE_PARAMETERS.filename).write_bytes(b"not the NIQE parameters")
    save_tensors(weights_dir / "UNIQUE.pt")
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    niqe = block(out, NIQE_PARAMETERS.filename)
    assert "[MISMATCH]" in niqe and NIQE_PARAMETERS.sha256 in niqe and NIQE_PARAMETERS.url in niqe
    unique = block(out, "UNIQUE.pt")
    assert "[unchecked]" in unique and "accepted without a checksum check" in unique
    assert "metric unique" in unique
    brisque = block(out, "brisque_svm_weights.pth")
    assert f"[missing] put it in {weights_dir}" in brisque
    zero_dce = block(out, "zero_dce_epoch99.pth")
    assert "method zero_dce" in zero_dce


def test_weights_list_with_the_shared_files(shared_weights, capsys):
    assert main(["weights", "list"]) == 0
    niqe = block(capsys.readouterr().out, NIQE_PARAMETERS.filename)
    assert f"[present] {shared_weights / NIQE_PARAMETERS.filename}" in niqe


def test_weights_fetch(weights_dir, shared_weights, capsys, monkeypatch):
    assert main(["weights", "fetch", "lpips"]) == 1  # offline, absent: each file fails with its URL
    out = capsys.readouterr().out
    assert f"failed: {ALEXNET.filename}" in out and ALEXNET.url in out and LPIPS_ALEX.url in out
    assert main(["weights", "fetch", "no_such_thing"]) == 2
    assert "llebench weights list" in capsys.readouterr().err
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(shared_weights))
    assert main(["weights", "fetch", NIQE_PARAMETERS.filename, "niqe"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok: niqe_modelparameters.mat") == 1 and "sha256 verified" in out
