"""The SSLL CPU experiment in one command (baseline vs SSLL, a width-8 UNet, ~10-15 min on 2 cores)::

    export LLEBENCH_DATA=/path/to/data LLEBENCH_WEIGHTS=/path/to/weights   # SICE_part1/, DICM/; NIQE file
    OMP_NUM_THREADS=1 nice -n 10 python -m llebench_ssll.cpu_experiment     # from the repository root

Steps, each an ordinary llebench command (so each can be re-run or resumed by hand):

1. ``llebench train ssll --config configs/train/ssll_cpu_stage1.toml``: 600 supervised steps;
2. ``llebench train ssll --config configs/train/ssll_cpu_baseline.toml``: 600 more supervised steps
   from stage 1 (the baseline);
3. ``llebench train ssll --config configs/train/ssll_cpu_semi.toml``: 600 SSLL steps from stage 1,
   unpaired = DICM;
4. ``llebench run --config configs/ssll_cpu.toml``: both models on ``sice_synthetic`` (PSNR, SSIM)
   and ``dicm`` (NIQE), into ``results/ssll_cpu``;
5. ``llebench report results/ssll_cpu --layout ssll_delta``.

Models go to ``runs/ssll_cpu/{stage1,baseline,semi}``.

A step whose output exists is skipped (delete the directory to redo it). ``OMP_NUM_THREADS=1``:
on a shared, loaded machine two OpenMP threads spin-wait and run ~5x slower than one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RUNS = Path("runs/ssll_cpu")


def run(argv: list[str]) -> None:
    """One ``llebench`` command, exactly as a user types it (``python -m llebench``)."""
    print("+ llebench " + " ".join(argv), flush=True)
    code = subprocess.call([sys.executable, "-m", "llebench", *argv])
    if code != 0:
        sys.exit(code)


def train(config: str, out: Path, init: Path | None) -> None:
    if (out / "model.pt").is_file():
        print(f"= {out}/model.pt exists, skipped", flush=True)
        return
    argv = ["train", "ssll", "--config", str(CONFIGS / "train" / config), "--out", str(out), "--set", "train.progress=false"]
    if init is not None:
        argv += ["--set", f"method.init={init}"]
    if (out / "checkpoints").is_dir():
        argv.append("--resume")
    run(argv)


def main() -> int:
    stage1 = RUNS / "stage1"
    train("ssll_cpu_stage1.toml", stage1, None)
    train("ssll_cpu_baseline.toml", RUNS / "baseline", stage1 / "model.pt")
    train("ssll_cpu_semi.toml", RUNS / "semi", stage1 / "model.pt")
    run(["run", "--config", str(CONFIGS / "ssll_cpu.toml"), "--no-progress"])
    run(["report", "results/ssll_cpu", "--layout", "ssll_delta"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
