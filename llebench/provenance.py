"""What a run was computed with: versions, git commit, device — for the manifest."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

import llebench

TRACKED_PACKAGES = ("torch", "torchvision", "pyiqa", "numpy", "pillow", "opencv-python", "pandas", "pluggy", "scikit-image")


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "llebench": llebench.__version__}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The commit of the llebench source tree, if it is a git checkout (with '+dirty')."""
    source = Path(llebench.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def device_description(device: str) -> str:
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return f"{dev.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def environment(device: str) -> dict[str, Any]:
    return {
        "versions": package_versions(),
        "git_commit": git_commit(),
        "device": device_description(device),
        "platform": platform.platform(),
    }
