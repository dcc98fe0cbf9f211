"""Shared fixtures.

Tests that need ../shared read it through LLEBENCH_DATA / LLEBENCH_WEIGHTS. When those are
not set the tests are skipped with a reason, except under CI (``CI=true``), where a missing
directory is an error: nothing important is skipped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from llebench.plugins import PluginSet, load_plugins


def _shared_dir(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value or not Path(value).is_dir():
        message = f"${variable} is not set to an existing directory (it points at ../shared/...)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(value)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$LLEBENCH_DATA`` (../shared/data): DICM, SICE_part1."""
    return _shared_dir("LLEBENCH_DATA")


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """``$LLEBENCH_WEIGHTS`` (../shared/weights): official checkpoints, NIQE parameters."""
    return _shared_dir("LLEBENCH_WEIGHTS")


@pytest.fixture(scope="session")
def golden_dir(shared_data: Path) -> Path:
    """../shared/golden, found beside the data directory."""
    path = shared_data.parent / "golden"
    if not path.is_dir():
        pytest.fail(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def plugins() -> PluginSet:
    """The installed plugins, loaded once."""
    return load_plugins()


@pytest.fixture
def isolated_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights world: no $LLEBENCH_WEIGHTS, a private cache, no downloads."""
    monkeypatch.delenv("LLEBENCH_WEIGHTS", raising=False)
    monkeypatch.setenv("LLEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LLEBENCH_OFFLINE", "1")
    return tmp_path / "cache" / "weights"


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: on a small shared CPU, OpenMP spinning makes small convolutions 20x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
