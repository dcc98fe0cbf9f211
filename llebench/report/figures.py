"""Pictures for self-contained pages: embedded JPEG thumbnails, zoomed crops, SVG histograms.

Everything is inlined (``data:`` URIs, inline SVG) so a page opened from ``file://`` makes
no request. Images are HxWx3 uint8 arrays (:func:`llebench.images.to_uint8_array`).
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw

ZOOM_FRACTION = 4  # the zoomed crop is 1/4 of the width and height
BOX_COLOUR = (255, 40, 40)
CHANNEL_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")


def data_uri(image: np.ndarray, quality: int = 85) -> str:
    """A ``data:image/jpeg;base64,...`` URI of an HxWx3 uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def resize_to_width(image: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def detail_box(image: np.ndarray, fraction: int = ZOOM_FRACTION) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the window with the most edge energy in ``image``.

    Chosen on the input, the window shows where details hidden in the dark are, which is
    where methods differ most (the paper's zoom-ins pick such regions by hand).
    """
    step = max(1, min(image.shape[:2]) // 128)  # analyse a ~128-pixel-high version: bounded memory
    small = image[::step, ::step].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    energy = np.abs(np.diff(small, axis=0))[:, :-1] + np.abs(np.diff(small, axis=1))[:-1, :]
    if energy.size == 0:  # a one-pixel-wide image: the whole image is the window
        return 0, 0, max(1, image.shape[0] // fraction), max(1, image.shape[1] // fraction)
    win_h, win_w = max(1, energy.shape[0] // fraction), max(1, energy.shape[1] // fraction)
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = (integral[win_h:, win_w:] - integral[:-win_h, win_w:] - integral[win_h:, :-win_w]
            + integral[:-win_h, :-win_w])
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    height, width = image.shape[0] // fraction, image.shape[1] // fraction
    top = min(int(top) * step, image.shape[0] - height)
    left = min(int(left) * step, image.shape[1] - width)
    return top, left, max(1, height), max(1, width)


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    top, left, height, width = box
    return image[top:top + height, left:left + width]


def with_box(image: np.ndarray, box: tuple[int, int, int, int], scale: float) -> np.ndarray:
    """``image`` (already resized by ``scale``) with the zoom window outlined."""
    top, left, height, width = (round(v * scale) for v in box)
    canvas = Image.fromarray(image)
    ImageDraw.Draw(canvas).rectangle([left, top, left + width - 1, top + height - 1], outline=BOX_COLOUR, width=2)
    return np.asarray(canvas)


def histogram_svg(image: np.ndarray, width: int = 240, height: int = 70, bins: int = 64) -> str:
    """An inline SVG of the R, G and B histograms (as in the paper's Fig. 5)."""
    counts = [np.histogram(image[..., c], bins=bins, range=(0, 256))[0] for c in range(3)]
    peak = max(1, max(int(c.max()) for c in counts))
    xs = np.linspace(0, width, bins)
    lines = []
    for colour, count in zip(CHANNEL_COLOURS, counts):
        ys = height - count / peak * (height - 2)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" points="{points}"/>')
    return (f'<svg class="hist" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="RGB histogram">'
            f'<rect width="{width}" height="{height}" fill="#fafafa" stroke="#ccc"/>{"".join(lines)}</svg>')
