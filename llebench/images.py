"""Reading, validating, quantising and writing images.

Reading policy (docs/reliability.md has the full table). Pixels are used as stored: EXIF
orientation is not applied, exactly like the official test scripts of Zero-DCE and
SCL-LLE, so scores match theirs. Conversions to 1x3xHxW float32 in [0, 1]:

* greyscale (L, 1-bit) is replicated to RGB; alpha (RGBA, LA, PA) is dropped, not
  composited; palette images are expanded; CMYK and YCbCr go through Pillow's ``convert``;
* 16-bit greyscale (modes ``I;16*``, and ``I``, which Pillow uses for >8-bit PNG/PGM
  data scaled to 0..65535) is divided by 65535; 16-bit RGB PNGs are decoded by Pillow
  to 8 bits per channel (what the official scripts see); float images are clipped;
* any size is accepted (1x1 too); what a method or metric cannot handle fails later,
  per image, with its own message.

Refused with an :class:`ImageError` naming the file: missing and zero-byte files, files
that are not images (a text file named ``.jpg``), truncated or damaged data, symbolic
link loops and broken (dangling) links, and images with more than ``$LLEBENCH_MAX_PIXELS``
pixels (default 200 megapixels): the header is checked before any pixel is decoded, so a
"decompression bomb" costs nothing. Pillow's own bomb limit is set to the same value, so
there is one limit.
"""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from llebench.atomic import atomic_writer
from llebench.context import max_pixels
from llebench.errors import ImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"})

# read_image enforces the pixel limit itself (Pillow's limit is set to it, and Pillow warns
# from there up): the warning would only precede our error. Set once at import, not with
# catch_warnings per call, which is not thread-safe (samples are read in worker threads).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an image file as a 1x3xHxW float32 tensor in [0, 1]; :class:`ImageError` names the file."""
    path = Path(path)
    limit = max_pixels()
    try:
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes)")
        # Image.open itself refuses above twice Pillow's limit (reworded below); _check_size the rest
        Image.MAX_IMAGE_PIXELS = limit
        with Image.open(path) as img:
            _check_size(path, *img.size, limit)
            array = _to_rgb_array(img)
    except ImageError:
        raise
    except FileNotFoundError as exc:
        if path.is_symlink():
            raise ImageError(f"{path}: broken symbolic link (its target {os.readlink(path)} does not exist)") from exc
        raise ImageError(f"{path}: file not found") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: exceeds the pixel limit of {limit} ({exc}; set LLEBENCH_MAX_PIXELS "
                         "to allow it)") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageError(f"{path}: symbolic link loop") from exc
        if exc.errno is not None:
            raise ImageError(f"{path}: cannot read ({exc.strerror})") from exc
        raise ImageError(f"{path}: damaged or truncated image ({exc})") from exc
    except (SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: damaged or truncated image ({exc})") from exc
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(f"{path}: empty image")
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def _check_size(path: Path, width: int, height: int, limit: int) -> None:
    if width * height > limit:
        raise ImageError(
            f"{path}: {width}x{height} exceeds the pixel limit of {limit} "
            "(set LLEBENCH_MAX_PIXELS to allow it)"
        )


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Decode fully (so truncation is detected here) and convert to float32 HxWx3."""
    img.load()
    if img.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I"}:
        grey = np.clip(np.asarray(img, dtype=np.float64) / 65535.0, 0.0, 1.0).astype(np.float32)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "F":
        grey = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode != "RGB":
        img = img.convert("RGB")
    array = np.asarray(img, dtype=np.float32)
    array /= 255.0  # in place: one float copy of a large image, not two
    return array


def _levels(image: torch.Tensor) -> torch.Tensor:
    """floor(255 x + 0.5) of the clamped image as uint8, exactly as torchvision's ``save_image``.

    The uint8 cast truncates, which is floor for these non-negative values; it is also
    ~50x cheaper than ``torch.floor`` on small images, where that op wakes the whole
    thread pool — milliseconds that add up over thousands of images.
    """
    return image.detach().float().clamp(0.0, 1.0).mul_(255.0).add_(0.5).to(torch.uint8)


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits the way the saved PNG (and torchvision ``save_image``) does."""
    return _levels(image).float().div_(255.0)


def truncate_to_8_bits(image: torch.Tensor) -> torch.Tensor:
    """floor(255 clamp(y, 0, 1)) / 255: the levels official test scripts write when they save with a
    uint8 cast (numpy ``astype('uint8')``, ``ToPILImage``), which truncates instead of rounding.

    Values k / 255 pass :func:`quantize` unchanged, so a method returning these gets the official
    bytes in the runner's PNG.
    """
    return image.clamp(0.0, 1.0).mul_(255.0).floor_().div_(255.0)


def to_uint8_array(image: torch.Tensor) -> np.ndarray:
    """1x3xHxW [0,1] tensor -> HxWx3 uint8 array."""
    return _levels(image)[0].permute(1, 2, 0).cpu().numpy()


def write_png(image: torch.Tensor, path: str | os.PathLike[str]) -> None:
    """Write an 8-bit PNG atomically (:func:`llebench.atomic.atomic_writer`)."""
    with atomic_writer(path) as handle:
        Image.fromarray(to_uint8_array(image)).save(handle, format="PNG", compress_level=1)
