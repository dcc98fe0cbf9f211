"""Plugin loading: entry points, --plugins-dir, allow/deny lists, broken and duplicate plugins."""

from __future__ import annotations

import textwrap

import pluggy
import pytest
from throwaway import Brighten, ThrowawayPlugin

from llebench.sdk import hookimpl
from llebench.cli import main
from llebench.errors import PluginError, UnknownNameError
from llebench.plugins import load_plugins

BUILTINS = {"basic", "dcenet", "datasets", "metrics", "reports"}


def test_builtins_are_entry_points(plugins):
    assert BUILTINS <= set(plugins.plugins)
    assert all(plugins.plugins[name].source == "entry point" for name in BUILTINS)
    assert {"input", "zero_dce", "scl_lle"} <= set(plugins.names("enhancers"))
    assert {"sample", "dicm"} <= set(plugins.names("datasets"))
    assert {"niqe", "psnr", "ssim", "seconds"} <= set(plugins.names("metrics"))
    assert plugins.registry["enhancers"]["zero_dce"].plugin == "dcenet"


def test_broken_plugin_is_reported_by_name_and_the_others_work(tmp_path, capsys):
    (tmp_path / "broken_one.py").write_text("raise ImportError('missing dependency xyz')\n")
    (tmp_path / "good_one.py").write_text(textwrap.dedent('''
        from llebench.sdk import hookimpl
        from llebench.api import Enhancer

        class Half(Enhancer):
            name = "half"
            def enhance(self, image):
                return image / 2

        @hookimpl
        def llebench_register_enhancers(register):
            register(Half)
    '''))
    plugin_set = load_plugins(plugins_dirs=[tmp_path])
    assert "missing dependency xyz" in plugin_set.broken["broken_one"]
    assert "half" in plugin_set.names("enhancers")
    assert "zero_dce" in plugin_set.names("enhancers")

    code = main(["plugins", "--plugins-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1  # something is broken
    assert "broken_one BROKEN: ImportError: missing dependency xyz" in out
    assert "good_one local" in out and "methods: half" in out

    code = main(["run", "--plugins-dir", str(tmp_path), "--methods", "input,half", "--datasets", "sample",
                 "--metrics", "psnr", "--limit", "1", "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    assert "plugin broken_one failed to load" in capsys.readouterr().err


def test_duplicate_names_name_both_plugins():
    class Copycat:
        @hookimpl
        def llebench_register_enhancers(self, register):
            class Clash(Brighten):
                name = "zero_dce"
            register(Clash)

    with pytest.raises(PluginError, match="'dcenet' and plugin 'copycat'"):
        load_plugins(extra=[("copycat", Copycat())])


def test_misspelled_hook_fails_loudly():
    class Typo:
        @hookimpl
        def llebench_register_enhancer(self, register):  # missing 's'
            pass

    with pytest.raises(pluggy.PluginValidationError):
        load_plugins(extra=[("typo", Typo())])


def test_allow_list_and_disable(monkeypatch):
    monkeypatch.setenv("LLEBENCH_LOAD_PLUGINS", "basic,metrics")
    only = load_plugins()
    assert set(only.plugins) == {"basic", "metrics"}
    with pytest.raises(UnknownNameError, match="unknown method 'zero_dce'"):
        only.get("enhancers", "zero_dce")
    monkeypatch.delenv("LLEBENCH_LOAD_PLUGINS")
    monkeypatch.setenv("LLEBENCH_DISABLE_PLUGINS", "dcenet")
    without = load_plugins()
    assert "dcenet" not in without.plugins and "basic" in without.plugins


def test_registered_plugin_appears_with_its_registrations():
    plugin_set = load_plugins(extra=[("throwaway", ThrowawayPlugin())])
    assert plugin_set.provided_by("throwaway") == {
        "enhancers": ["brighten", "faulty"], "datasets": ["tiny"],
        "metrics": ["abs_error", "mean_brightness"], "reports": [], "trainers": [], "losses": [],
    }


@pytest.mark.parametrize("argv", [["--help"], ["plugins"]])
def test_help_and_plugins_import_no_torch(argv):
    """Start-up: built-ins register Deferred classes, so listing them never imports torch."""
    import subprocess
    import sys

    script = ("import sys\nfrom llebench.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
              "print('HEAVY', sorted(m for m in ('torch', 'torchvision', 'pandas', 'scipy', 'cv2', 'pyiqa') "
              "if m in sys.modules))" % argv)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert "HEAVY []" in result.stdout, result.stdout[-500:] + result.stderr[-2000:]


def test_every_deferred_builtin_loads_under_its_registered_name(plugins):
    for kind, table in plugins.registry.items():
        for name, registered in table.items():
            assert registered.cls.name == name, (kind, name)


def test_deferred_mistakes_are_clear_plugin_errors(tmp_path):
    (tmp_path / "lazy_one.py").write_text(textwrap.dedent('''
        from llebench.sdk import Deferred, hookimpl

        @hookimpl
        def llebench_register_enhancers(register):
            register(Deferred("misnamed", "llebench_basic:Identity"))
            register(Deferred("absent", "no_such_module_xyz:Thing"))
    '''))
    plugin_set = load_plugins(plugins_dirs=[tmp_path])
    assert {"misnamed", "absent"} <= set(plugin_set.names("enhancers"))  # listed without importing
    with pytest.raises(PluginError, match="registered llebench_basic:Identity as 'misnamed'.*named 'input'"):
        plugin_set.get("enhancers", "misnamed")
    with pytest.raises(PluginError, match="lazy_one.*cannot load 'absent' from no_such_module_xyz:Thing"):
        plugin_set.get("enhancers", "absent")
