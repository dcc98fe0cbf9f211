"""The ``miou`` metric's math, the ``cityscapes_val`` dataset, and Table 4 end to end on a
tiny generated Cityscapes-format fixture with a FIXTURE DeepLab (untrained architecture,
weights saved by this test: never a pretrained model)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llebench.context import Context
from llebench.cli import main
from llebench.errors import DatasetUnavailable, ImageError, RunConfigError
from llebench.results import RunResults
from llebench.nets.confusion import confusion_matrix, iou_per_class, mean_iou
from llebench_segmentation.dataset import CityscapesVal

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_confusion_matrix_by_hand():
    labels = np.array([[0, 0, 1, 255], [2, 2, 1, 1]])
    prediction = np.array([[0, 1, 1, 0], [2, 0, 1, 2]])
    # rows = truth, columns = prediction; the 255 pixel is ignored
    expected = np.array([[1, 1, 0],
                         [0, 2, 1],
                         [1, 0, 1]])
    confusion = confusion_matrix(labels, prediction, 3)
    np.testing.assert_array_equal(confusion, expected)
    # IoU_c = diag / (row + column - diag): 1/(2+2-1), 2/(3+3-2), 1/(2+2-1)
    np.testing.assert_allclose(iou_per_class(confusion), [1 / 3, 2 / 4, 1 / 3])
    assert mean_iou(confusion) == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3)


def test_absent_classes_are_left_out_and_sums_differ_from_means():
    only_zero = confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 2), int), 19)
    assert mean_iou(only_zero) == 1.0  # 18 classes absent from labels and prediction: NaN, skipped
    a = np.array([[3, 1], [0, 0]])
    b = np.array([[0, 0], [1, 3]])
    assert mean_iou(a) == pytest.approx((3 / 4 + 0 / 1) / 2)
    assert mean_iou(a + b) == pytest.approx((3 / 5 + 3 / 5) / 2)
    assert np.isnan(mean_iou(np.zeros((3, 3), int)))
    with pytest.raises(ValueError, match="0..2"):
        confusion_matrix(np.array([0]), np.array([3]), 3)
    with pytest.raises(ValueError, match="pixels"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)


def make_cityscapes(root: Path, per_city: int = 1, size: tuple[int, int] = (64, 128)) -> Path:
    """``root/cityscapes/{leftImg8bit,gtFine}/val/CITY/...``: random images; label ids 7 (road,
    bottom half), 26 (car, a box), 0 (unlabelled -> ignored, top rows)."""
    rng = np.random.default_rng(0)
    height, width = size
    for city in ("frankfurt", "lindau", "munster"):
        for index in range(per_city):
            stem = f"{city}_{index:06d}_000019"
            image_dir = root / "cityscapes" / "leftImg8bit" / "val" / city
            label_dir = root / "cityscapes" / "gtFine" / "val" / city
            image_dir.mkdir(parents=True, exist_ok=True)
            label_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
                image_dir / f"{stem}_leftImg8bit.png")
            labels = np.full((height, width), 21, np.uint8)  # vegetation
            labels[height // 2:] = 7
            labels[10:30, 20 + index:60] = 26
            labels[:4] = 0
            Image.fromarray(labels).save(label_dir / f"{stem}_gtFine_labelIds.png")
    return root


def test_dataset_darkens_and_maps_labels(tmp_path):
    make_cityscapes(tmp_path)
    plain = CityscapesVal(Context(data_root=tmp_path), "frankfurt")
    dark = CityscapesVal(Context(data_root=tmp_path), "frankfurt@6")
    assert plain.ids() == ["frankfurt/frankfurt_000000_000019_leftImg8bit.png"] == dark.ids()
    assert len(CityscapesVal(Context(data_root=tmp_path)).ids()) == 3 and CityscapesVal(Context(data_root=tmp_path), "@2").gamma == 2.0
    a, b = plain.load(plain.ids()[0]), dark.load(dark.ids()[0])
    expected = torch.floor(a.input ** 6 * 255 + 0.5) / 255
    assert torch.equal(b.input, expected) and b.input.mean() < a.input.mean()
    assert b.labels.shape == (1, 64, 128) and b.labels.dtype == torch.int64
    assert set(b.labels.unique().tolist()) == {0, 8, 13, 255}  # road, vegetation, car, ignore
    assert dark.settings()["cities"] == ["frankfurt"] and dark.settings()["gamma"] == 6.0


def test_dataset_errors_name_what_is_missing(tmp_path):
    with pytest.raises(RunConfigError, match="unknown city 'paris'"):
        CityscapesVal(Context(data_root=tmp_path), "paris@2")
    with pytest.raises(RunConfigError, match="gamma"):
        CityscapesVal(Context(data_root=tmp_path), "lindau@x")
    with pytest.raises(DatasetUnavailable, match="leftImg8bit/val/lindau"):
        CityscapesVal(Context(data_root=tmp_path), "lindau").ids()
    make_cityscapes(tmp_path)
    label = next((tmp_path / "cityscapes" / "gtFine").rglob("lindau_*_labelIds.png"))
    label.unlink()
    dataset = CityscapesVal(Context(data_root=tmp_path), "lindau")
    with pytest.raises(ImageError, match="lindau_000000_000019_gtFine_labelIds.png"):
        dataset.load(dataset.ids()[0])


@pytest.fixture
def fixture_deeplab(tmp_path) -> Path:
    """FIXTURE ONLY: the untrained DeepLabV3+ architecture with seeded random weights, saved in
    VainF's format. Its predictions are meaningless; it exercises the pipeline offline."""
    from llebench.sdk.nets import DeepLabV3PlusMobileNet

    torch.manual_seed(0)
    model = DeepLabV3PlusMobileNet(num_classes=19)
    # a random head predicts classes the fixture has no pixels of (mIoU 0, a weak check):
    # make the last layer favour "road" everywhere, so IoUs are non-zero and differ per image
    last = model.classifier.classifier[3]
    with torch.no_grad():
        last.weight.mul_(1e-3)
        last.bias.zero_()
        last.bias[0] = 1.0
    path = tmp_path / "weights" / "FIXTURE-untrained-deeplab-not-pretrained.pth"
    path.parent.mkdir()
    torch.save({"model_state": model.state_dict()}, path)
    return path


@pytest.mark.slow
def test_table4_end_to_end_on_a_tiny_fixture(tmp_path, fixture_deeplab, capsys):
    from llebench.sdk.nets import Segmenter
    from llebench.nets.confusion import CONFUSION_KEY

    data = make_cityscapes(tmp_path / "data", per_city=2)
    config = tomllib.loads((CONFIGS / "table4.toml").read_text())
    out = tmp_path / "run"
    # the shipped config, with the identity method only, the fixture data and the fixture network
    text = (f'out = "{out}"\ndata_root = "{data}"\nmethods = ["input"]\n'
            f'datasets = {config["datasets"]!r}\n'.replace("'", '"')
            + f'[[metrics]]\nname = "miou"\nweights = "{fixture_deeplab}"\n')
    (tmp_path / "t4.toml").write_text(text)
    assert main(["run", "--config", str(tmp_path / "t4.toml"), "--no-progress", "--no-report"]) == 0
    run = RunResults.load(out)
    assert len(run.scores) == 12 * 2 and (run.scores["status"] == "ok").all()
    assert "FIXTURE-untrained-deeplab-not-pretrained.pth" in str(run.manifest["metrics"]["miou"]["settings"])

    # the accumulated mIoU, recomputed here from the fixture network's own predictions
    segmenter = Segmenter.pretrained(fixture_deeplab)
    dataset = CityscapesVal(Context(data_root=data), "lindau@6")
    total = np.zeros((19, 19), np.int64)
    for sample_id in dataset.ids():
        sample = dataset.load(sample_id)
        total += confusion_matrix(sample.labels, segmenter.predict(sample.input), 19)
        stored = run.details("miou", "input", "cityscapes_val:lindau@6", sample_id)[CONFUSION_KEY]
        np.testing.assert_array_equal(stored, confusion_matrix(sample.labels, segmenter.predict(sample.input), 19))
    expected = f"{100 * mean_iou(total):.3f}"
    assert 10 < float(expected) < 40  # road right, vegetation and car wrong

    assert main(["report", str(out), "--layout", "table4"]) == 0
    html = (out / "report_table4.html").read_text()
    assert "Table 4" in html and "73.831" in html  # the published Input row beside the measured one
    from llebench_reports.tables import TABLE4

    table = TABLE4.build(run)
    measured = dict(table.rows)["input"]
    lindau_6 = [c.group == "Lindau" and c.metric == "γ=6" for c in table.columns].index(True)
    assert measured[lindau_6].text == expected
    assert all(cell.text != "–" for cell in measured)
    assert (out / "report_table4.tex").read_text().count(r"\textbf") >= 12  # published row marks
    # `llebench report` without --layout picks table4 (and the leaderboard), not tables 1-3
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    written = {Path(p).name for p in capsys.readouterr().out.split()}
    assert written == {"report.html", "report_table4.html"}


def test_configs_name_registered_components(plugins):
    for number in (1, 2, 3, 4):
        config = tomllib.loads((CONFIGS / f"table{number}.toml").read_text())
        for kind, section in (("enhancers", "methods"), ("datasets", "datasets"), ("metrics", "metrics")):
            for entry in config[section]:
                name = entry if isinstance(entry, str) else entry["name"]
                plugins.get(kind, name.partition(":")[0])
