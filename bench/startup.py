"""CLI start-up: ``llebench --help`` and ``llebench plugins`` vs ``python -c "import torch"``.

    python bench/startup.py [--repeats N]

The three commands run interleaved, each in a fresh process, ``--repeats`` times; each
line compares medians measured in this one run. Targets: ``--help`` <= 0.5 and
``plugins`` <= 1.0 of importing torch. What makes them fast: built-in plugins register
:class:`llebench.sdk.Deferred` classes (name and ``module:Class``), so neither command
imports torch, torchvision, pandas, scipy, OpenCV or pyiqa.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import at_most, report

COMMANDS = {
    "torch": [sys.executable, "-c", "import torch"],
    "help": [sys.executable, "-m", "llebench", "--help"],
    "plugins": [sys.executable, "-m", "llebench", "plugins"],
}


def wall_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for name in COMMANDS:  # warm the file cache once
        wall_seconds(COMMANDS[name])
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            times[name].append(wall_seconds(command))
    median = {name: statistics.median(values) for name, values in times.items()}
    detail = "median of {} runs: {:.2f} s vs import torch {:.2f} s"
    report([
        at_most("startup: llebench --help", median["help"] / median["torch"], 0.5,
                detail.format(args.repeats, median["help"], median["torch"])),
        at_most("startup: llebench plugins", median["plugins"] / median["torch"], 1.0,
                detail.format(args.repeats, median["plugins"], median["torch"])),
    ])


if __name__ == "__main__":
    main()
