"""``llebench userstudy import FILE.csv``: human rankings into a run (Table 1's U.S. column).

The CSV has a header and one line per rating::

    rater,image,method,rank
    r01,01.jpg,scl_lle,1
    r01,01.jpg,zero_dce,2

``rank`` is an integer from 1 (best) to 5 (worst), as in the SCL-LLE study; ``method`` is a
method label of the run; ``image`` an image id of the run. An optional ``dataset`` column
(else ``--dataset``, else the one dataset of the run holding that image id) says which
dataset the image belongs to. Each (method, dataset, image) becomes one ``user_study`` score
row: the mean rank its raters gave. Tables average those over images, which equals the
mean of all ratings when every rater ranked every image.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from llebench.sdk import Context, RunConfigError, RunResults, add_external_scores

METRIC = "user_study"
REQUIRED = ("rater", "image", "method", "rank")
RANKS = range(1, 6)


def read_ratings(path: Path, run: RunResults, dataset: str | None) -> dict[tuple[str, str, str], list[int]]:
    """``{(method, dataset, image): [ranks]}``; every problem names the file and line."""
    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        raise RunConfigError(f"cannot read {path}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RunConfigError(f"{path}: missing column(s) {', '.join(missing)}; the header must be "
                             f"{','.join(REQUIRED)}[,dataset]")
    methods = set(run.scores["method"]) | set(run.manifest.get("methods", {}))
    datasets_of: dict[str, set[str]] = defaultdict(set)
    for ds, image in run.scores[["dataset", "image"]].drop_duplicates().itertuples(index=False):
        datasets_of[image].add(ds)
    ratings: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    seen: set[tuple[str, str, str, str]] = set()
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        where = f"{path}:{line}"
        if row["method"] not in methods:
            raise RunConfigError(f"{where}: method {row['method']!r} is not in {run.path} "
                                 f"(methods: {', '.join(sorted(methods))})")
        image_dataset = row.get("dataset") or dataset or _only_dataset(datasets_of, row["image"], where, run)
        if row["image"] not in datasets_of or image_dataset not in datasets_of[row["image"]]:
            raise RunConfigError(f"{where}: image {row['image']!r} of dataset {image_dataset!r} is not in {run.path}")
        try:
            rank = int(row["rank"])
        except ValueError:
            raise RunConfigError(f"{where}: rank {row['rank']!r} is not an integer") from None
        if rank not in RANKS:
            raise RunConfigError(f"{where}: rank {rank} is outside 1..5 (1 = best)")
        key = (row["rater"], row["method"], image_dataset, row["image"])
        if key in seen:
            raise RunConfigError(f"{where}: rater {row['rater']!r} ranked {row['method']} on {row['image']} twice")
        seen.add(key)
        ratings[(row["method"], image_dataset, row["image"])].append(rank)
    if not ratings:
        raise RunConfigError(f"{path}: no ratings")
    return ratings


def _only_dataset(datasets_of: dict[str, set[str]], image: str, where: str, run: RunResults) -> str:
    found = datasets_of.get(image, set())
    if len(found) != 1:
        raise RunConfigError(f"{where}: image {image!r} is in {len(found)} datasets of {run.path}; "
                             "add a dataset column or pass --dataset")
    return next(iter(found))


def import_ratings(run_dir: Path, path: Path, dataset: str | None = None, replace: bool = False) -> int:
    """Write the ``user_study`` rows and manifest entry; returns how many rows were written."""
    ratings = read_ratings(path, RunResults.load(run_dir), dataset)
    entry = {
        "kind": "subjective", "lower_better": True,
        "settings": {"source": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                     "raters": len(_raters(path)), "ratings": sum(len(v) for v in ratings.values()),
                     "scale": "rank 1 (best) to 5 (worst)",
                     "per_image_value": "mean rank over the image's raters",
                     "table_value": "mean over the dataset's rated images"},
    }
    try:
        return add_external_scores(run_dir, METRIC, entry,
                                   {key: sum(ranks) / len(ranks) for key, ranks in ratings.items()}, replace=replace)
    except RunConfigError as exc:
        if replace:
            raise
        raise RunConfigError(f"{exc}\nOr pass --replace to drop the earlier user-study import.") from exc


def _raters(path: Path) -> set[str]:
    return {(row.get("rater") or "").strip() for row in csv.DictReader(path.read_text("utf-8-sig").splitlines())}


def cmd_userstudy_import(args: argparse.Namespace, context: Context) -> int:
    written = import_ratings(Path(args.run), Path(args.file), dataset=args.dataset, replace=args.replace)
    print(f"{args.run}: {written} user_study rows (mean rank per method, dataset and image); "
          f"run `llebench report {args.run} --layout table1`")
    return 0


def add_commands(cli: Any) -> None:
    """``llebench userstudy import``: registered by the plugin's ``llebench_register_commands``."""
    group = cli.add_group("userstudy", help="import human rankings (the U.S. column of Table 1)")
    imp = cli.add_command("import", group=group, help="read rater,image,method,rank[,dataset] rows into a run")
    imp.add_argument("file", help="CSV with header rater,image,method,rank (rank 1 = best .. 5), optional dataset")
    imp.add_argument("--run", default="results/default", help="results directory (default: results/default)")
    imp.add_argument("--dataset", help="dataset of every image (when the CSV has no dataset column)")
    imp.add_argument("--replace", action="store_true", help="drop an earlier import instead of refusing")
    imp.set_defaults(handler=cmd_userstudy_import)
