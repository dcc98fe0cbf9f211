"""Weights resolution: explicit path, $LLEBENCH_WEIGHTS, cache, verified download."""

from __future__ import annotations

import hashlib

import pytest

from llebench.errors import ChecksumMismatch, WeightsNotFound
from llebench.weights import WeightsFile, hash_prefix, resolve


def spec_for(content: bytes, url: str = "https://example.invalid/w.pth") -> WeightsFile:
    return WeightsFile("w.pth", url, hashlib.sha256(content).hexdigest())


def test_missing_offline_names_file_url_and_directory(isolated_weights):
    spec = spec_for(b"x")
    with pytest.raises(WeightsNotFound) as info:
        resolve(spec)
    message = str(info.value)
    assert "w.pth" in message and spec.url in message and str(isolated_weights) in message


def test_order_explicit_then_env_then_cache(isolated_weights, tmp_path, monkeypatch):
    content = b"weights"
    spec = spec_for(content)
    isolated_weights.mkdir(parents=True)
    (isolated_weights / "w.pth").write_bytes(content)
    assert resolve(spec) == isolated_weights / "w.pth"
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "w.pth").write_bytes(content)
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(env_dir))
    assert resolve(spec) == env_dir / "w.pth"
    mine = tmp_path / "mine.pth"
    mine.write_bytes(b"my own training run")  # explicit files are the user's: no checksum
    assert resolve(spec, mine) == mine
    with pytest.raises(WeightsNotFound, match="does not exist"):
        resolve(spec, tmp_path / "absent.pth")


def test_a_different_file_is_refused(isolated_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(tmp_path))
    (tmp_path / "w.pth").write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch, match="different or damaged"):
        resolve(spec_for(b"original"))


def test_download_is_verified_and_a_tampered_download_is_not_cached(isolated_weights, tmp_path, monkeypatch):
    monkeypatch.delenv("LLEBENCH_OFFLINE")
    source = tmp_path / "served.pth"
    source.write_bytes(b"published bytes")
    good = spec_for(b"published bytes", url=source.as_uri())
    assert resolve(good).read_bytes() == b"published bytes"
    assert (isolated_weights / "w.pth").exists()

    (isolated_weights / "w.pth").unlink()
    source.write_bytes(b"evil bytes")
    with pytest.raises(ChecksumMismatch):
        resolve(good)
    assert list(isolated_weights.iterdir()) == []  # neither the file nor a temporary remains


def test_official_weights_verify(shared_weights):
    from llebench_dcenet.enhancers import SCL_LLE_WEIGHTS, ZERO_DCE_WEIGHTS
    from llebench.pyiqa_bridge.files import NIQE_PARAMETERS

    for spec in (ZERO_DCE_WEIGHTS, SCL_LLE_WEIGHTS, NIQE_PARAMETERS):
        assert resolve(spec).parent == shared_weights


def test_name_hash_prefix_is_the_check_when_no_sha256_is_published(isolated_weights, tmp_path, monkeypatch):
    """torch hub's convention (``name-<first hex digits of the sha256>.ext``) is verified for
    every file found or downloaded, like ``load_state_dict_from_url(check_hash=True)``."""
    assert [hash_prefix(name) for name in ("LPIPS_v0.1_alex-df73285e.pth", "musiq_koniq_ckpt-e95806b9.pth",
                                           "alexnet-owt-7be5be79.pth", "UNIQUE.pt", "net-abc.pth",
                                           "best_deeplabv3plus_mobilenet_cityscapes_os16.pth")] == [
        "df73285e", "e95806b9", "7be5be79", None, None, None]
    content = b"linear layers"
    prefix = hashlib.sha256(content).hexdigest()[:8]
    named = WeightsFile(f"lin-{prefix}.pth", "https://example.invalid/lin.pth", None)
    wrong = WeightsFile("lin-00000000.pth", "https://example.invalid/lin.pth", None)
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(tmp_path))
    for spec in (named, wrong):
        (tmp_path / spec.filename).write_bytes(content)
    assert resolve(named) == tmp_path / named.filename
    with pytest.raises(ChecksumMismatch, match="lin-00000000.pth names the first digits of its sha256: 00000000"):
        resolve(wrong)

    monkeypatch.delenv("LLEBENCH_OFFLINE")
    monkeypatch.delenv("LLEBENCH_WEIGHTS")
    served = tmp_path / "served.pth"
    served.write_bytes(b"tampered linear layers")
    with pytest.raises(ChecksumMismatch, match=prefix):
        resolve(WeightsFile(named.filename, served.as_uri(), None))
    assert not isolated_weights.exists() or list(isolated_weights.iterdir()) == []  # not cached
    served.write_bytes(content)
    assert resolve(WeightsFile(named.filename, served.as_uri(), None)) == isolated_weights / named.filename
