"""Reading, validating, quantising and writing images.

Policy (documented in the README): pixels are used as stored — EXIF orientation is not
applied, exactly like the official test scripts of Zero-DCE and SCL-LLE, so scores match
theirs. Greyscale is replicated to RGB, alpha is dropped, palette and CMYK images are
converted to RGB, 16-bit images are scaled by 1/65535. Images larger than
``$LLEBENCH_MAX_PIXELS`` (default 200 megapixels) are refused as decompression bombs.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from llebench.errors import ImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"})
DEFAULT_MAX_PIXELS = 200_000_000


def max_pixels() -> int:
    return int(os.environ.get("LLEBENCH_MAX_PIXELS", DEFAULT_MAX_PIXELS))


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an image file as a 1x3xHxW float32 tensor in [0, 1]; :class:`ImageError` names the file."""
    path = Path(path)
    limit = max_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > limit:
                    raise ImageError(
                        f"{path}: {width}x{height} exceeds the pixel limit of {limit} "
                        "(set LLEBENCH_MAX_PIXELS to allow it)"
                    )
                array = _to_rgb_array(img)
    except ImageError:
        raise
    except FileNotFoundError as exc:
        raise ImageError(f"{path}: file not found") from exc
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: damaged or truncated image ({exc})") from exc
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(f"{path}: empty image")
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Decode fully (so truncation is detected here) and convert to float32 HxWx3."""
    img.load()
    if img.mode in {"I;16", "I;16B", "I;16L", "I"}:
        data = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if img.mode.startswith("I;16") or data.max() > 255 else 255.0
        grey = np.clip(data / scale, 0.0, 1.0).astype(np.float32)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "F":
        grey = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.float32) / 255.0


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits the way the saved PNG (and torchvision ``save_image``) does."""
    return torch.floor(image.clamp(0.0, 1.0) * 255.0 + 0.5) / 255.0


def to_uint8_array(image: torch.Tensor) -> np.ndarray:
    """1x3xHxW [0,1] tensor -> HxWx3 uint8 array."""
    data = torch.floor(image.detach().float().clamp(0.0, 1.0) * 255.0 + 0.5)
    return data[0].permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def write_png(image: torch.Tensor, path: str | os.PathLike[str]) -> None:
    """Write atomically: a temporary file in the same directory, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(to_uint8_array(image)).save(fh, format="PNG", compress_level=1)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
