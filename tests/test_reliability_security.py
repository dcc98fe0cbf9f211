"""Security: safe checkpoint loading, no code execution on user data, inert reports, contained paths."""

from __future__ import annotations

import ast
import csv
import io
import pickle
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from PIL import Image
from throwaway import ThrowawayPlugin

from llebench.sdk import hookimpl
from llebench.api import Dataset, Sample
from llebench.errors import LLEBenchError
from llebench.plugins import load_plugins
from llebench.components import ComponentSpec
from llebench.runner import Runner, RunPlan
from llebench.results import RunResults

ROOT = Path(__file__).resolve().parents[1]
#: the code that runs on user data (tests build malicious files on purpose, so not tests/)
SOURCE_DIRS = ("llebench", "plugins", "bench")


def source_files() -> list[Path]:
    files = [p for d in SOURCE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(files) > 20  # the scan sees the source tree
    return files


def calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Call):
            yield node


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_constant(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def test_every_torch_load_is_weights_only():
    unsafe = [f"{path.relative_to(ROOT)}:{call.lineno}" for path in source_files() for call in calls(path)
              if dotted(call.func) == "torch.load" and not is_constant(keyword(call, "weights_only"), True)]
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"
    aliased = [str(path.relative_to(ROOT)) for path in source_files()
               for node in ast.walk(ast.parse(path.read_text("utf-8")))
               if isinstance(node, ast.ImportFrom) and node.module == "torch" and any(a.name == "load" for a in node.names)]
    assert not aliased, f"'from torch import load' hides calls from this check: {aliased}"


def test_no_shell_eval_exec_or_pickle_on_user_data():
    forbidden_calls = {"eval", "exec", "compile", "os.system", "os.popen", "pickle.load", "pickle.loads",
                       "marshal.loads", "yaml.load", "yaml.unsafe_load", "shelve.open"}
    found = []
    for path in source_files():
        for call in calls(path):
            name = dotted(call.func)
            if name in forbidden_calls:
                found.append(f"{path.relative_to(ROOT)}:{call.lineno} {name}()")
            shell = keyword(call, "shell")
            if shell is not None and not is_constant(shell, False):
                found.append(f"{path.relative_to(ROOT)}:{call.lineno} shell=")
            pickles = keyword(call, "allow_pickle")  # numpy's default is False
            if name.endswith(("np.load", "numpy.load")) and pickles is not None and not is_constant(pickles, False):
                found.append(f"{path.relative_to(ROOT)}:{call.lineno} np.load(allow_pickle=...)")
    assert not found, found


class Payload:
    """Unpickling this would create ``marker``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def malicious_checkpoint(path: Path, marker: Path) -> Path:
    with open(path, "wb") as fh:
        pickle.dump({"model": {"weight": Payload(marker)}, "format": "x", "complete": True}, fh)
    return path


def checkpoint_loaders():
    """Every loader of a user-supplied checkpoint in the tree, as (name, function)."""
    from llebench.statedict import load_checkpoint, load_state_dict
    from llebench.training.checkpoint import load_checkpoint as load_training_checkpoint
    from llebench_ssll.checkpoints import load_weights

    return [("training checkpoint", load_training_checkpoint), ("weights file", load_checkpoint),
            ("state_dict (every method, VGG, DeepLab)", load_state_dict), ("SSLL", load_weights)]


@pytest.mark.parametrize("index", range(4))
def test_malicious_pickle_is_refused_and_never_run(index, tmp_path):
    name, load = checkpoint_loaders()[index]
    marker = tmp_path / "owned"
    path = malicious_checkpoint(tmp_path / "evil.pth", marker)
    with pytest.raises(Exception) as info:
        load(path)
    assert not marker.exists(), f"{name}: loading ran code"
    text = str(info.value)
    if isinstance(info.value, LLEBenchError):
        assert "evil.pth" in text, f"{name}: the message does not name the file: {text}"
    else:  # torch's own refusal says why
        assert "weights_only" in text or "Weights only load failed" in text, f"{name}: {text}"


def test_torn_checkpoint_is_never_picked_by_training_resume(tmp_path):
    from llebench.training.checkpoint import CheckpointDir

    checkpoints = CheckpointDir(tmp_path / "checkpoints")
    checkpoints.save(100, {"model": {"w": torch.ones(2)}}, keep=3)
    newest = checkpoints.save(200, {"model": {"w": torch.full((2,), 2.0)}}, keep=3)
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # torn (e.g. a full disk, or a copy cut short)
    (tmp_path / "checkpoints" / "iter_0000300.pt").write_bytes(b"")  # and an empty newer one
    malicious_checkpoint(tmp_path / "checkpoints" / "iter_0000400.pt", tmp_path / "owned")
    path, state = checkpoints.find_latest()
    assert path.name == "iter_0000100.pt" and state["iteration"] == 100
    assert not (tmp_path / "owned").exists()


# -- reports escape everything user-controlled -----------------------------------------------

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
#: opened in a spreadsheet, a CSV cell like this is a formula; in LaTeX, a command
FORMULA = '=HYPERLINK("https://example.invalid","x")'
TEX = r"\input{/etc/passwd}$x^2$"


class EvilNames(Dataset):
    """Sample ids, a path in the settings and an error message, all carrying HTML."""

    name = "evil_names"

    def settings(self):
        return {"root": f"/data/{ATTRIBUTE}", "note": SCRIPT}

    def ids(self) -> list[str]:
        return [f"{ATTRIBUTE}.png", "<script>alert(3).png", "broken.png"]

    def load(self, sample_id: str) -> Sample:
        if sample_id == "broken.png":
            raise LLEBenchError(f"/data/{SCRIPT}{ATTRIBUTE}.png: damaged or truncated image")
        return Sample(id=sample_id, input=torch.full((1, 3, 8, 8), 0.3), meta={"path": f"/data/{sample_id}"})


class EvilPlugin:
    @hookimpl
    def llebench_register_datasets(self, register):
        register(EvilNames)


class ParsedPage(HTMLParser):
    """What a browser would build: tags with their attributes, script bodies, visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self.text = ""
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag == "script":
            self.scripts.append("")
            self.in_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script:
            self.scripts[-1] += data
        else:
            self.text += data


def test_reports_make_user_controlled_text_inert(tmp_path):
    plugins = load_plugins(extra=[("throwaway", ThrowawayPlugin()), ("evil", EvilPlugin())])
    plan = RunPlan(
        methods=[ComponentSpec("brighten", SCRIPT, options={"factor": 2.0}), ComponentSpec("faulty", ATTRIBUTE),
                 ComponentSpec("brighten", FORMULA, options={"factor": 3.0}),
                 ComponentSpec("brighten", TEX, options={"factor": 1.5})],
        datasets=[ComponentSpec("evil_names", f"{SCRIPT}{ATTRIBUTE}")],
        metrics=[ComponentSpec("mean_brightness", f"m{SCRIPT}{ATTRIBUTE}")],
        out=tmp_path / "run",
    )
    Runner(plugins, plan, progress=False).run()
    run = RunResults.load(tmp_path / "run")
    rendered = shown = 0
    for name, registered in plugins.registry["reports"].items():
        try:
            html = registered.cls().render(run)
        except LLEBenchError:
            continue  # a layout that needs other data (e.g. a trainer's) says so and renders nothing
        rendered += 1
        page = ParsedPage()
        page.feed(html)
        handlers = [(tag, key) for tag, attrs in page.tags for key in attrs if key.lower().startswith("on")]
        assert not handlers, f"{name}: event handlers {handlers}"
        assert all(attrs.get("src", "").startswith("data:image/") for tag, attrs in page.tags if tag == "img"), name
        assert not any("alert(" in code for code in page.scripts), f"{name}: the page's own scripts only"
        assert SCRIPT in page.text and ATTRIBUTE in page.text, f"{name}: the names are shown, as text"
        exports = registered.cls().exports(run)
        if exports:
            shown += assert_exports_inert(name, exports)
    assert rendered >= 1 and shown >= 1


def assert_exports_inert(name: str, exports: dict[str, str]) -> bool:
    """Markdown (often rendered as HTML) opens no tag but its own ``<u>``; LaTeX is pure
    ASCII and no backslash, brace or dollar of a name survives; CSV keeps names exactly,
    but none starts a spreadsheet formula. Returns whether the exports show the names
    (a paper table without the run's methods shows only the published rows)."""
    markdown, latex = exports[".md"], exports[".tex"]
    assert "<" not in re.sub(r"</?u>", "", markdown), f"{name}: an HTML tag in the Markdown"
    assert latex.isascii(), f"{name}: non-ASCII in the LaTeX"
    assert "\\input" not in latex and "$x^2$" not in latex, f"{name}: TeX from a name"
    # a row label may end with a marker of non-default options (" ¶"): the name itself is what matters
    cells = [row[0].removesuffix(" ¶") for row in csv.reader(io.StringIO(exports[".csv"]))]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))], f"{name}: a formula in the CSV"
    if SCRIPT not in cells:
        return False
    assert {SCRIPT, ATTRIBUTE, TEX, "'" + FORMULA} <= set(cells), name  # CSV is data: names exactly
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown and '"&gt;&lt;img src=x onerror=alert(2)&gt;' in markdown
    assert r"\\input{/etc/passwd}\$x^2\$" in markdown
    assert r"\textless{}script\textgreater{}alert(1)\textless{}/script\textgreater{}" in latex
    assert r"\textbackslash{}input\{/etc/passwd\}\$x\textasciicircum{}2\$" in latex
    return True


# -- paths from configs and datasets cannot escape their roots -----------------------------------

class Escaping(Dataset):
    name = "escaping"

    def ids(self) -> list[str]:
        return ["fine.png", "../../escape.png", "/tmp/absolute.png", "sub/../../../up.png", "..\\..\\win.png"]

    def load(self, sample_id: str) -> Sample:
        return Sample(id=sample_id, input=torch.full((1, 3, 4, 4), 0.5), meta={"path": sample_id})


class EscapingPlugin:
    @hookimpl
    def llebench_register_datasets(self, register):
        register(Escaping)


def test_image_ids_and_labels_cannot_write_outside_the_results_directory(tmp_path):
    plugins = load_plugins(extra=[("throwaway", ThrowawayPlugin()), ("escaping", EscapingPlugin())])
    out = tmp_path / "deep" / "run"
    plan = RunPlan(methods=[ComponentSpec("brighten", "../../../method")],
                   datasets=[ComponentSpec("escaping", "../../dataset")],
                   metrics=[ComponentSpec.parse("mean_brightness")], out=out)
    absolute = Path("/tmp/absolute.png")
    existed = absolute.exists()
    summary = Runner(plugins, plan, progress=False).run()
    assert absolute.exists() == existed
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(out) for p in written), written
    pngs = [p for p in written if p.suffix == ".png"]
    assert [p.name for p in pngs] == ["fine.png"] and pngs[0].is_relative_to(out / "images")
    refused = {f.image: f.error for f in summary.failures}
    assert set(refused) == {"../../escape.png", "/tmp/absolute.png", "sub/../../../up.png", "..\\..\\win.png"}
    assert all("must be a relative path" in error for error in refused.values())


def test_dataset_ids_never_leave_the_dataset_folder(tmp_path):
    """folder:PATH lists only the files directly in PATH: no '..', no links to directories followed."""
    from llebench_datasets.custom import FolderDataset

    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    Image.new("RGB", (4, 4)).save(inside / "a.png")
    Image.new("RGB", (4, 4)).save(outside / "secret.png")
    (inside / "linked_dir").symlink_to(outside, target_is_directory=True)
    ids = FolderDataset(arg=str(inside)).ids()
    assert ids == ["a.png"]
