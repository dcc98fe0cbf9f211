"""Training logs: a CSV file per stream (always) and TensorBoard (when installed).

On resume the CSV keeps only the rows up to the checkpoint's iteration, so the log of a
resumed run reads exactly like that of an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from llebench.atomic import atomic_write_text


class CsvLog:
    """Append-only CSV of ``iteration`` plus scalars; columns fixed by the first row."""

    def __init__(self, path: Path, keep_until: int | None = None) -> None:
        self.path = path
        self.columns: list[str] | None = None
        rows: list[dict[str, str]] = []
        if path.is_file() and keep_until is not None:
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                self.columns = list(reader.fieldnames or []) or None
                rows = [r for r in reader if r.get("iteration", "").isdigit() and int(r["iteration"]) <= keep_until]
        if self.columns:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            atomic_write_text(path, buffer.getvalue())
        elif path.exists():
            path.unlink()

    def write(self, iteration: int, values: dict[str, Any]) -> None:
        row = {"iteration": iteration, **values}
        if self.columns is None:
            self.columns = list(row)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", encoding="utf-8", newline="") as fh:
                csv.DictWriter(fh, fieldnames=self.columns, lineterminator="\n").writeheader()
        with open(self.path, "a", encoding="utf-8", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n").writerow(
                {k: _format(v) for k, v in row.items()})


def _format(value: Any) -> str:
    return f"{value:.8g}" if isinstance(value, float) else str(value)


class TrainLogger:
    """``train_log.csv`` and ``validation.csv`` in the run directory, mirrored to TensorBoard."""

    def __init__(self, out: Path, resume_iteration: int | None, tensorboard: bool = True) -> None:
        self.train = CsvLog(out / "train_log.csv", resume_iteration)
        self.validation = CsvLog(out / "validation.csv", resume_iteration)
        self.board = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # TensorBoard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self.board = SummaryWriter(log_dir=str(out / "tensorboard"), purge_step=resume_iteration)

    def log(self, stream: str, iteration: int, values: dict[str, Any]) -> None:
        getattr(self, stream).write(iteration, values)
        if self.board is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self.board.add_scalar(f"{stream}/{key}", value, iteration)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
