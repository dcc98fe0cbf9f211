"""The public SDK: everything a plugin may import from llebench, and nothing else.

``llebench.sdk`` is to llebench what the ``pytest`` namespace is to ``_pytest``: the names
here (and in :mod:`llebench.sdk.nets`, :mod:`llebench.sdk.report`, :mod:`llebench.sdk.pyiqa`)
are the stable contract for plugin authors. Every other module of the ``llebench`` package
is private and may change in any release; a test in llebench's own suite fails when a
built-in plugin imports one, so the built-ins are held to the same rule as yours.

Importing this module is cheap: names are loaded on first use, and torch only where the
name needs it.

Contracts: :class:`Enhancer` (a method), :class:`Dataset`, :class:`Metric`,
:class:`Report`, :class:`Trainer`, :class:`Loss`, with :class:`Sample`,
:class:`EnhanceRecord`, :class:`MetricValue`, :class:`StepOutput`, :class:`TrainContext`,
:class:`LossInputs`, and :class:`Context` (device, data root, registry) handed to every
component; :data:`hookimpl` marks hook implementations; :class:`Deferred` registers a
component by name without importing its module (so listing plugins never imports torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> (private module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    # hooks
    "hookimpl": ("llebench.hookimpl", "hookimpl"),
    "Deferred": ("llebench.plugins", "Deferred"),
    # the context and the registry
    "Context": ("llebench.context", "Context"),
    "Registry": ("llebench.context", "Registry"),
    # contracts
    "Component": ("llebench.api", "Component"),
    "Enhancer": ("llebench.api", "Enhancer"),
    "Dataset": ("llebench.api", "Dataset"),
    "Metric": ("llebench.api", "Metric"),
    "Report": ("llebench.api", "Report"),
    "Sample": ("llebench.api", "Sample"),
    "EnhanceRecord": ("llebench.api", "EnhanceRecord"),
    "MetricValue": ("llebench.api", "MetricValue"),
    "MetricKind": ("llebench.api", "MetricKind"),
    "DatasetKind": ("llebench.api", "DatasetKind"),
    "Trainer": ("llebench.training.api", "Trainer"),
    "StepOutput": ("llebench.training.api", "StepOutput"),
    "TrainContext": ("llebench.training.api", "TrainContext"),
    "Loss": ("llebench.losses", "Loss"),
    "FeatureNetLoss": ("llebench.losses", "FeatureNetLoss"),
    "LossInputs": ("llebench.losses", "LossInputs"),
    "ImageFolderTrainSet": ("llebench.training.data", "ImageFolderTrainSet"),
    "ConfigKey": ("llebench.schema", "Key"),
    # errors
    "LLEBenchError": ("llebench.errors", "LLEBenchError"),
    "PluginError": ("llebench.errors", "PluginError"),
    "UnknownNameError": ("llebench.errors", "UnknownNameError"),
    "WeightsNotFound": ("llebench.errors", "WeightsNotFound"),
    "ChecksumMismatch": ("llebench.errors", "ChecksumMismatch"),
    "WeightsFormatError": ("llebench.statedict", "WeightsFormatError"),
    "DatasetUnavailable": ("llebench.errors", "DatasetUnavailable"),
    "ImageError": ("llebench.errors", "ImageError"),
    "EnhancementError": ("llebench.errors", "EnhancementError"),
    "RunConfigError": ("llebench.errors", "RunConfigError"),
    "OutputNotWritable": ("llebench.errors", "OutputNotWritable"),
    "describe_error": ("llebench.components", "one_line"),
    # images and files
    "IMAGE_SUFFIXES": ("llebench.images", "IMAGE_SUFFIXES"),
    "is_image_file": ("llebench.images", "is_image_file"),
    "read_image": ("llebench.images", "read_image"),
    "write_png": ("llebench.images", "write_png"),
    "quantize": ("llebench.images", "quantize"),
    "truncate_to_8_bits": ("llebench.images", "truncate_to_8_bits"),
    "to_uint8_array": ("llebench.images", "to_uint8_array"),
    "list_images": ("llebench.imagefiles", "list_images"),
    "natural_key": ("llebench.imagefiles", "natural_key"),
    "pair_key": ("llebench.imagefiles", "pair_key"),
    "match_pairs": ("llebench.imagefiles", "match_pairs"),
    "darken": ("llebench.synthesis", "darken"),
    "darken_settings": ("llebench.synthesis", "darken_settings"),
    "tiled": ("llebench.tiling", "tiled"),
    # reduced precision
    "PRECISIONS": ("llebench.precision", "PRECISIONS"),
    "check_precision": ("llebench.precision", "check_precision"),
    "native_cpu_support": ("llebench.precision", "native_cpu_support"),
    "precision_autocast": ("llebench.precision", "precision_autocast"),
    # pretrained files and checkpoints
    "WeightsFile": ("llebench.weights", "WeightsFile"),
    "resolve_weights": ("llebench.weights", "resolve"),
    "sha256sum": ("llebench.weights", "sha256sum"),
    "load_checkpoint": ("llebench.statedict", "load_checkpoint"),
    "load_state_dict": ("llebench.statedict", "load_state_dict"),
    "flush_subnormals": ("llebench.statedict", "flush_subnormals"),
    # writing files
    "atomic_writer": ("llebench.atomic", "atomic_writer"),
    "atomic_write_text": ("llebench.atomic", "atomic_write_text"),
    "atomic_write_bytes": ("llebench.atomic", "atomic_write_bytes"),
    # results directories
    "RunResults": ("llebench.results", "RunResults"),
    "group_rows": ("llebench.results", "group_rows"),
    "Entry": ("llebench.results", "Entry"),
    "add_external_scores": ("llebench.store", "add_external_scores"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'llebench.sdk' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from llebench.api import (  # noqa: F401
        Component, DatasetKind, Dataset, EnhanceRecord, Enhancer, Metric, MetricKind, MetricValue, Report, Sample,
    )
    from llebench.atomic import atomic_write_bytes, atomic_write_text, atomic_writer  # noqa: F401
    from llebench.components import one_line as describe_error  # noqa: F401
    from llebench.context import Context, Registry  # noqa: F401
    from llebench.errors import (  # noqa: F401
        ChecksumMismatch, DatasetUnavailable, EnhancementError, ImageError, LLEBenchError, OutputNotWritable,
        PluginError, RunConfigError, UnknownNameError, WeightsNotFound,
    )
    from llebench.hookimpl import hookimpl  # noqa: F401
    from llebench.imagefiles import list_images, match_pairs, natural_key, pair_key  # noqa: F401
    from llebench.images import IMAGE_SUFFIXES, is_image_file, quantize, read_image, to_uint8_array, truncate_to_8_bits, write_png  # noqa: F401
    from llebench.losses import FeatureNetLoss, Loss, LossInputs  # noqa: F401
    from llebench.plugins import Deferred  # noqa: F401
    from llebench.precision import PRECISIONS, check_precision, native_cpu_support, precision_autocast  # noqa: F401
    from llebench.results import Entry, RunResults, group_rows  # noqa: F401
    from llebench.schema import Key as ConfigKey  # noqa: F401
    from llebench.statedict import WeightsFormatError, flush_subnormals, load_checkpoint, load_state_dict  # noqa: F401
    from llebench.store import add_external_scores  # noqa: F401
    from llebench.synthesis import darken, darken_settings  # noqa: F401
    from llebench.tiling import tiled  # noqa: F401
    from llebench.training.api import StepOutput, TrainContext, Trainer  # noqa: F401
    from llebench.training.data import ImageFolderTrainSet  # noqa: F401
    from llebench.weights import WeightsFile, sha256sum  # noqa: F401
    from llebench.weights import resolve as resolve_weights  # noqa: F401
