"""The plugin boundary: plugins import only ``llebench.sdk``, never each other; the core
imports and names no plugin; disabling any built-in plugin only removes what it provided."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import llebench.sdk
from llebench.cli import main
from llebench.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
CORE = ROOT / "llebench"
PLUGIN_PACKAGES = sorted(p.name for p in PLUGINS.iterdir() if p.is_dir() and p.name.startswith("llebench_"))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute module an import statement in ``path`` names (``import a.b``, ``from a.b import c``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def crossings(files: list[Path], allowed) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line}: {module}" for path in files
            for line, module in imported_modules(path) if not allowed(path, module)]


def test_plugins_import_only_the_sdk_and_their_own_package():
    def allowed(path: Path, module: str) -> bool:
        top = module.split(".")[0]
        own = path.relative_to(PLUGINS).parts[0]
        if top == "llebench":
            return module == "llebench.sdk" or module.startswith("llebench.sdk.")
        return not top.startswith("llebench_") or top == own

    assert crossings(sorted(PLUGINS.rglob("*.py")), allowed) == []


def test_the_core_imports_no_plugin():
    def allowed(path: Path, module: str) -> bool:
        return not module.split(".")[0].startswith("llebench_")

    assert crossings(sorted(CORE.rglob("*.py")), allowed) == []


def test_the_core_names_no_registered_component():
    """No string in the core equals a name a built-in plugin registers (``"input"``,
    ``"leaderboard"``, ``"folder"``, ``"niqe"``...), except the words listed here, which the
    core uses for something else (a CSV column, a state-dict key, a package)."""
    plugins = load_plugins()
    names = {name for table in plugins.registry.values() for name in table}
    other_meanings = {"seconds": "outputs.csv and scores.csv column", "params": "a checkpoint key",
                      "pyiqa": "the pyiqa package", "niqe": "a pyiqa metric name (pyiqa's file list)",
                      "brisque": "a pyiqa metric name", "unique": "a pyiqa metric name", "musiq": "a pyiqa metric name",
                      "lpips": "a pyiqa metric name", "sample": "an English word in a message",
                      "gamma": "the StepLR scheduler's gamma (a training config key)"}
    found = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
                    and node.value not in other_meanings):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert found == []


def test_every_sdk_name_resolves_and_importing_the_sdk_does_not_import_torch():
    for name in llebench.sdk.__all__:
        assert getattr(llebench.sdk, name) is not None, name
    for submodule in ("nets", "pyiqa", "report"):
        module = importlib.import_module(f"llebench.sdk.{submodule}")
        assert all(getattr(module, name) is not None for name in module.__all__)
    code = "import sys, llebench.sdk; from llebench.sdk import Enhancer, Dataset, Metric, hookimpl; " \
           "print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_run_without_the_reports_plugin_scores_and_exits_cleanly(shared_weights, tmp_path, monkeypatch, capsys):
    """It used to score everything, then exit 2 with "unknown report 'leaderboard'"."""
    monkeypatch.setenv("LLEBENCH_DISABLE_PLUGINS", "reports")
    out = tmp_path / "run"
    assert main(["run", "--methods", "input,zero_dce", "--metrics", "seconds", "--limit", "1", "--out", str(out),
                 "--no-progress"]) == 0
    assert (out / "scores.csv").exists() and not (out / "report.html").exists()


def test_allow_untrained_goes_only_to_methods_that_accept_it(tmp_path, capsys):
    """It used to fail with "Lime.__init__() got an unexpected keyword argument 'allow_untrained'"."""
    assert main(["run", "--methods", "input,lime", "--allow-untrained", "--metrics", "seconds", "--limit", "1",
                 "--out", str(tmp_path / "run"), "--no-progress", "-o", "lime.solver=direct"]) == 0


@pytest.mark.parametrize("disabled", PLUGIN_PACKAGES)
def test_disabling_any_builtin_plugin_never_crashes_a_run(disabled, shared_weights, tmp_path, monkeypatch, capsys):
    """Exit 0 or 1, or 2 only with an error naming a method, dataset or metric the plugin provided."""
    entry_point = disabled.removeprefix("llebench_")
    provided = {name for names in load_plugins().provided_by(entry_point).values() for name in names}
    monkeypatch.setenv("LLEBENCH_DISABLE_PLUGINS", entry_point)
    plugins = load_plugins()
    assert entry_point not in plugins.plugins and not plugins.broken
    code = main(["run", "--methods", "input,zero_dce", "--metrics", "seconds", "--limit", "1",
                 "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        assert any(f"unknown {word} '{name}'" in err for word in ("method", "dataset", "metric") for name in provided), err
    else:
        assert code in (0, 1), err
