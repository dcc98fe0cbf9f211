"""The contrastive ablation in one command: four trainings, one evaluation, one leaderboard::

    export LLEBENCH_DATA=/path/to/data          # SICE_part1/ (the synthetic pairs are made from it)
    OMP_NUM_THREADS=1 nice -n 10 python -m llebench_contrastive.ablation [--feature-nets random]

from the repository root (the configs are ``configs/train/contrastive_*.toml``). Steps, each
an ordinary llebench command printed before it runs (so any can be re-run by hand):

1. ``llebench train ssll --config configs/train/contrastive_{base,cr,cr_wo_neg,patchnce}.toml``
   into ``RUNS/<run>`` (a run whose ``model.pt`` exists is skipped; one with checkpoints is resumed);
2. ``llebench run --config OUT/ablation_run.toml``: the four models on the held-out
   ``sice_synthetic`` pairs (PSNR, SSIM), labelled by run;
3. ``llebench report OUT``: the leaderboard (95% intervals, n/N, significance marks); its
   Markdown export is printed at the end.

``--feature-nets random`` trains CR and PatchNCE against random frozen VGG-19 features
(VGG-19's ImageNet file is not always at hand): those models are stamped untrained and
their rows are marked so. It is not the papers' setting: it measures the machinery, not
the terms' merit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

RUNS = ("base", "cr", "cr_wo_neg", "patchnce")
DEFAULT_CONFIGS = Path("configs/train")


def llebench(argv: list[str]) -> None:
    """One ``llebench`` command, exactly as a user types it (``python -m llebench``); stops on failure."""
    print("+ llebench " + " ".join(argv), flush=True)
    code = subprocess.call([sys.executable, "-m", "llebench", *argv])
    if code != 0:
        raise SystemExit(code)


def train(config: Path, out: Path, feature_nets: str, iterations: int | None) -> None:
    if (out / "model.pt").is_file():
        print(f"= {out / 'model.pt'} exists, skipped", flush=True)
        return
    argv = ["train", "ssll", "--config", str(config), "--out", str(out), "--feature-nets", feature_nets,
            "--set", "train.progress=false"]
    if iterations is not None:
        argv += ["--set", f"train.iterations={iterations}"]
    if (out / "checkpoints").is_dir():
        argv.append("--resume")
    llebench(argv)


def run_config(runs: Path, out: Path, images: int | None) -> str:
    """The evaluation's run config: one labelled ``ssll`` entry per trained model."""
    lines = ["# written by python -m llebench_contrastive.ablation", "methods = ["]
    for run in RUNS:
        weights = (runs / run / "model.pt").resolve().as_posix()
        lines.append(f'    {{ name = "ssll", label = "{run}", weights = "{weights}", allow_untrained = true }},')
    lines += ["]", 'datasets = ["sice_synthetic"]', 'metrics = ["psnr", "ssim"]', f'out = "{out.resolve().as_posix()}"']
    if images is not None:
        lines.append(f"limit = {images}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llebench_contrastive.ablation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feature-nets", choices=("pretrained", "random"), default="pretrained",
                        help="VGG-19 of CR/PatchNCE: the ImageNet file (default) or random (marked untrained)")
    parser.add_argument("--configs", type=Path, default=DEFAULT_CONFIGS, help="where contrastive_*.toml are")
    parser.add_argument("--runs", type=Path, default=Path("runs/contrastive"), help="where the four models go")
    parser.add_argument("--out", type=Path, default=Path("results/contrastive_ablation"),
                        help="the evaluation's results directory")
    parser.add_argument("--iterations", type=int, default=None, help="override every config's train.iterations")
    parser.add_argument("--images", type=int, default=None, help="evaluate on the first N test pairs only")
    args = parser.parse_args(argv)
    for run in RUNS:
        config = args.configs / f"contrastive_{run}.toml"
        if not config.is_file():
            parser.error(f"{config} not found (run from the repository root or pass --configs)")
    for run in RUNS:
        train(args.configs / f"contrastive_{run}.toml", args.runs / run, args.feature_nets, args.iterations)
    args.out.mkdir(parents=True, exist_ok=True)
    config = args.out / "ablation_run.toml"
    config.write_text(run_config(args.runs, args.out, args.images), encoding="utf-8")
    llebench(["run", "--config", str(config), "--no-progress"])
    llebench(["report", str(args.out)])
    for table in sorted(args.out.glob("*.md")):
        print(f"\n{table}:\n{table.read_text(encoding='utf-8')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
