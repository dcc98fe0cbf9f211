"""Batched metric calls: same scores as one image at a time, failures stay per image."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from llebench.api import EnhanceRecord, Sample
from llebench.components import ComponentSpec, build_component
from llebench.context import Context
from llebench.errors import RunConfigError
from llebench.plugins import load_plugins
from llebench.runner import Runner, RunPlan
from llebench.scoring import DEFAULT_CUDA_BATCH, Scorer

RECORD = EnhanceRecord(0.0, "cpu", None)


def batch(count: int, height: int, width: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(count, 3, height, width, generator=generator) * 255).round() / 255


@pytest.mark.parametrize("name", ["psnr", "psnr_y", "ssim", "ssim_rgb", "ms_ssim", "psnr_gtmean", "ssim_gtmean"])
def test_batched_full_reference_scores_equal_per_image_ones(plugins, name):
    metric = build_component(plugins, "metrics", ComponentSpec.parse(name), Context(plugins=plugins))
    assert metric.batchable
    outputs, references = batch(4, 180, 200, 1), batch(4, 180, 200, 2)
    samples = [Sample(str(i), outputs[i:i + 1], reference=references[i:i + 1]) for i in range(4)]
    batched = metric.compute_batch(outputs, samples, [RECORD] * 4)
    single = [metric.compute(outputs[i:i + 1], samples[i], RECORD) for i in range(4)]
    assert len(set(single)) == 4  # different images, different scores
    np.testing.assert_allclose(batched, single, rtol=1e-6, atol=1e-6)  # float32 sums in another order


@pytest.mark.shared
def test_batched_niqe_equals_per_image_niqe(plugins, shared_weights):
    metric = build_component(plugins, "metrics", ComponentSpec.parse("niqe"), Context(plugins=plugins))
    outputs = batch(3, 160, 192, 3)
    samples = [Sample(str(i), outputs[i:i + 1]) for i in range(3)]
    single = [metric.compute(outputs[i:i + 1], samples[i], RECORD) for i in range(3)]
    np.testing.assert_allclose(metric.compute_batch(outputs, samples, [RECORD] * 3), single, rtol=1e-9)


def test_a_reference_of_another_size_fails_the_batch_call():
    plugins = load_plugins()
    metric = build_component(plugins, "metrics", ComponentSpec.parse("psnr"), Context(plugins=plugins))
    outputs = batch(2, 32, 32, 4)
    samples = [Sample("a", outputs[:1], reference=outputs[:1]), Sample("b", outputs[1:], reference=batch(1, 30, 32, 5))]
    with pytest.raises(Exception, match="reference size"):
        metric.compute_batch(outputs, samples, [RECORD] * 2)


def test_batch_size_defaults():
    assert Scorer.choose_batch_size(None, "cpu") == 1
    assert Scorer.choose_batch_size(None, "cuda:0") == DEFAULT_CUDA_BATCH
    assert Scorer.choose_batch_size(3, "cpu") == 3
    with pytest.raises(RunConfigError, match="at least 1"):
        Scorer.choose_batch_size(0, "cpu")


PLUGIN = textwrap.dedent('''
    from llebench.sdk import hookimpl
    from llebench.api import Metric

    CALLS = []

    class Brightness(Metric):
        """Mean brightness; refuses images whose id starts with 'bad' (a whole batch call then fails)."""
        name = "brightness"
        batchable = True
        def compute(self, output, sample, record):
            if sample.id.startswith("bad"):
                raise ValueError("cannot score this one")
            CALLS.append(1)
            return float(output.mean())
        def compute_batch(self, outputs, samples, records):
            if any(s.id.startswith("bad") for s in samples):
                raise ValueError("a bad image in the batch")
            CALLS.append(len(samples))
            return [float(o.mean()) for o in outputs]

    @hookimpl
    def llebench_register_metrics(register):
        register(Brightness)
''')


def run(tmp_path, images, batch_size):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / "brightness_metric.py").write_text(PLUGIN)
    plugins = load_plugins(plugins_dirs=[plugin_dir])
    plan = RunPlan(methods=[ComponentSpec.parse("input")],
                   datasets=[ComponentSpec("folder", f"folder:{images}", str(images))],
                   metrics=[ComponentSpec.parse("brightness"), ComponentSpec.parse("psnr")],
                   out=tmp_path / f"run{batch_size}", metric_batch=batch_size, workers=0)
    summary = Runner(plugins, plan, progress=False).run()
    module = next(m for name, m in sys.modules.items() if name.endswith("brightness_metric"))
    calls = list(module.CALLS)
    module.CALLS.clear()
    return summary, pd.read_csv(plan.out / "scores.csv", keep_default_na=False), calls


def test_runs_with_batches_score_like_runs_without(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for index in range(7):
        size = (40, 30) if index < 5 else (24, 24)
        Image.fromarray(np.full((size[1], size[0], 3), 20 + 30 * index, np.uint8)).save(images / f"img{index}.png")
    Image.fromarray(np.full((30, 40, 3), 99, np.uint8)).save(images / "bad.png")

    single, single_scores, single_calls = run(tmp_path, images, 1)
    batched, batched_scores, batched_calls = run(tmp_path, images, 4)
    assert single_calls == [1] * 7
    assert max(batched_calls) > 1 and sum(batched_calls) == 7  # 'bad' never scores, the others once
    key = ["method", "dataset", "image", "metric"]
    a, b = (frame.sort_values(key).reset_index(drop=True) for frame in (single_scores, batched_scores))
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))
    failed = b[b.status == "failed"]
    assert failed.image.tolist() == ["bad.png"] and "cannot score this one" in failed.error.iloc[0]
    assert "psnr" not in set(b.metric) and any(s.startswith("psnr on") for s in batched.skipped)  # no references
    manifest = json.loads((tmp_path / "run4" / "manifest.json").read_text())
    assert manifest["invocations"][-1]["metric_batch"] == 4
