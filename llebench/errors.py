"""Exceptions that carry a message fit to show a user as it is (no traceback needed)."""

from __future__ import annotations


class LLEBenchError(Exception):
    """Base class: the message says what went wrong and what to do."""


class PluginError(LLEBenchError):
    """A plugin could not be loaded, or two plugins register the same name."""


class UnknownNameError(LLEBenchError):
    """A method, dataset, metric or report name that no plugin registered."""


class WeightsNotFound(LLEBenchError):
    """A pretrained file is absent and could not be downloaded."""


class ChecksumMismatch(LLEBenchError):
    """A pretrained file's sha256 differs from the published one."""


class DatasetUnavailable(LLEBenchError):
    """A dataset's files are not where its layout says they must be."""


class ImageError(LLEBenchError):
    """One image cannot be read or is not a usable picture; names the file."""


class EnhancementError(LLEBenchError):
    """A method produced an unusable output (NaN/Inf, wrong shape) for one image."""


class RunConfigError(LLEBenchError):
    """A run's configuration is invalid or conflicts with the results already on disk."""


class OutputNotWritable(LLEBenchError, OSError):
    """The results directory cannot be written (disk full, read-only, no permission).

    Also an ``OSError`` (same errno) so callers that handle OS errors keep working; the
    runner stops at once instead of failing every remaining image for the same cause.
    """

    @classmethod
    def wrap(cls, path: object, exc: OSError) -> "OutputNotWritable":
        if isinstance(exc, cls):
            return exc
        reason = exc.strerror or str(exc)
        error = cls(exc.errno, f"cannot write {path}: {reason}; the results written so far are kept, "
                               "run the same command again once the directory is writable")
        return error

    def __str__(self) -> str:
        return str(self.strerror)


class ReportedElsewhere(LLEBenchError):
    """An error that another process of the same job reports (rank 0 of a sharded run):
    this process exits with the same status without printing it again."""
