"""Run every benchmark, each in a fresh process, and print one line per target.

    python bench/run_all.py [--quick]

Each line: name, measured ratio, target, PASS/FAIL, details. ``docs/performance.md``
holds the last results and the machine they were measured on.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: script -> (arguments for a full run, arguments for --quick)
BENCHES = {
    "dcenet_inference.py": (["--images", "4", "--repeats", "3"], ["--images", "1", "--repeats", "1"]),
    "throughput.py": (["--images", "16", "--small", "500"], ["--images", "4", "--small", "100"]),
    "large_image.py": ([], ["--quick"]),
    "scaling.py": ([], ["--images", "1", "2", "4", "--methods", "1", "2", "3", "--sharded-images", "4"]),
    "lime.py": (["--images", "2"], ["--images", "1"]),
    "train_step.py": ([], ["--quick"]),
    "startup.py": ([], ["--repeats", "2"]),
    "metrics_speed.py": (["--images", "16"], ["--images", "4"]),
    "zoo_zero_dce_pp.py": (["--images", "64", "--repeats", "1", "--large"], ["--images", "6", "--repeats", "1"]),
    "zoo_sci.py": ([], ["--images", "4", "--repeats", "2", "--bf16-images", "1"]),
    "zoo_ruas.py": ([], ["--images", "3", "--repeats", "1", "--half-images", "1"]),
    "zoo_pairlie.py": ([], ["--images", "1", "--repeats", "1"]),
    "zoo_clip_lit.py": (["--images", "4", "--repeats", "1"], ["--images", "2", "--repeats", "1"]),
    "zoo_uretinex.py": (["--images", "4", "--repeats", "1"], ["--images", "2", "--repeats", "1", "--crop", "256"]),
    "zoo_llflow.py": (["--threads", "1"], ["--images", "1", "--repeats", "1", "--standard-images", "0",
                                           "--half-crops", "1"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller inputs: a smoke test of the benchmarks")
    args = parser.parse_args()
    failed = False
    for script, (full, quick) in BENCHES.items():
        command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        result = subprocess.run(command, cwd=HERE, capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if " target " in line]
        if result.returncode != 0 or not lines:
            print(f"{script}: did not finish (exit {result.returncode}): {result.stderr.strip()[-500:]}")
            failed = True
        for line in lines:
            print(line, flush=True)
            failed |= " FAIL " in line
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
