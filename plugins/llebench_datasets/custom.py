"""``folder:PATH``: any folder of images, optionally paired with a folder of references.

``folder:PATH`` is a no-reference dataset of every image directly in PATH. With the
option ``ref=REFPATH`` (``llebench run --ref REFPATH``, or a config table
``{name = "folder:PATH", ref = "REFPATH"}``) it becomes paired: each input is matched with
the reference of the same file stem (``a.jpg`` with ``a.png``). Relative paths are taken
from the current directory, not the data root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llebench.sdk import Context, DatasetKind

from llebench_datasets.paired import FolderPairsDataset, Group


class FolderDataset(FolderPairsDataset):
    name = "folder"
    kind = "no-reference"
    description = "any folder of images (folder:PATH); paired by file stem with ref=REFPATH"
    layout = "folder:PATH = every image directly in PATH; with ref=REFPATH, REFPATH/<same stem>.* is each reference"
    source = "your own images"
    takes_arg = True
    takes_ref = True

    def __init__(self, context: Context | None = None, arg: str | None = None, ref: str | None = None) -> None:
        super().__init__(context, arg)
        if ref is not None and not isinstance(ref, str):
            raise TypeError(f"ref must be a path (a string), got {ref!r}")
        self.ref = Path(ref).expanduser().absolute() if ref else None
        # the kind depends on the options, so it is set per instance (the runner reads the instance)
        self.kind: DatasetKind = "paired" if self.ref is not None else "no-reference"  # type: ignore[misc]

    def location(self) -> Path | None:
        return Path(self.arg).expanduser().absolute() if self.arg else None

    def missing_location(self) -> str:
        return "needs a path: use folder:PATH"

    def settings(self) -> dict[str, Any]:
        return {"path": str(self.location()), "ref": str(self.ref) if self.ref is not None else None}

    def groups(self) -> list[Group]:
        references = None
        if self.ref is not None:
            if not self.ref.is_dir():
                raise self.unavailable(f"reference folder {self.ref} is not a directory")
            references = self.ref
        return [Group("", self.root(), references)]
