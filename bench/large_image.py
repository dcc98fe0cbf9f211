"""Large images: zero_dce on a 6000x4000 photo, tiled, within a memory budget.

Each measurement runs in its own process so its peak resident memory (VmHWM) is its
own. The image is a DICM photo upscaled to the target size.

* memory: tiled (``tile=1024``) at 6000x4000: peak RSS <= 3 GB.
* time: tiled vs untiled at a size where untiled fits comfortably (3000x2000 by default,
  or 1500x1000 with --quick): tiled <= 1.2x untiled, and the outputs equal within 1e-5.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from _common import Result, data_dir, peak_rss_gb, report, weights_dir

TILE = 1024


def measure(width: int, height: int, tile: int | None, save: str | None) -> dict:
    """In a child process: enhance once (after a small warm-up), report seconds and peak RSS."""
    from PIL import Image

    from llebench.images import read_image
    from llebench_dcenet.enhancers import ZeroDCE

    photo = Image.open(data_dir() / "DICM" / "01.jpg").convert("RGB").resize((width, height), Image.BICUBIC)
    path = Path(f"/tmp/llebench-large-{width}x{height}.png")
    photo.save(path, compress_level=1)
    image = read_image(path)
    del photo
    enhancer = ZeroDCE(weights=weights_dir() / "zero_dce_epoch99.pth", tile=tile)
    with torch.inference_mode():
        enhancer.enhance(image[..., :64, :64])
        start = time.perf_counter()
        output = enhancer.enhance(image)
        seconds = time.perf_counter() - start
    if save:
        torch.save(output[..., ::7, ::7].clone(), save)  # a subsample: enough to compare exactly
    return {"seconds": seconds, "peak_gb": peak_rss_gb()}


def child(width: int, height: int, tile: int | None, save: str | None = None) -> dict:
    arguments = [sys.executable, __file__, "--child", str(width), str(height), str(tile or 0), save or ""]
    result = subprocess.run(arguments, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def main() -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    big = child(6000, 4000, TILE)
    width, height = (1500, 1000) if args.quick else (3000, 2000)
    untiled = child(width, height, None, "/tmp/llebench-untiled.pt")
    tiled = child(width, height, TILE if not args.quick else 512, "/tmp/llebench-tiled.pt")
    difference = float((torch.load("/tmp/llebench-untiled.pt", weights_only=True) - torch.load("/tmp/llebench-tiled.pt", weights_only=True)).abs().max())
    return [
        Result("large image peak memory (GB)", big["peak_gb"], "<= 3 GB", big["peak_gb"] <= 3,
               f"6000x4000 zero_dce, {TILE}px tiles: {big['seconds']:.1f}s (ratio column is GB)"),
        Result("large image tiled vs untiled", tiled["seconds"] / untiled["seconds"], "<= 1.2",
               tiled["seconds"] / untiled["seconds"] <= 1.2 and difference <= 1e-5,
               f"{width}x{height}: untiled {untiled['seconds']:.1f}s ({untiled['peak_gb']:.1f} GB), tiled "
                f"{tiled['seconds']:.1f}s ({tiled['peak_gb']:.1f} GB); max |diff| {difference:.1e}"),
    ]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        w, h, t, s = sys.argv[2:6]
        print(json.dumps(measure(int(w), int(h), int(t) or None, s or None)))
    else:
        report(main())
