"""Natural-scene-statistics building blocks of NIQE and BRISQUE (and MATLAB's ``imresize``).

An independent implementation of the published algorithms (Mittal et al.: NIQE, IEEE SPL
2013; BRISQUE, IEEE TIP 2012) that reproduces the arithmetic of pyiqa's ports, the
project's reference (pyiqa only checks these numbers, in the tests; it is not imported).
The per-pixel work runs on the images' device, batched over images (torch; on the CPU
numpy and OpenCV where they are faster, see *Threads*); the per-patch fits are numpy on the
host (a few thousand numbers).

* :func:`y_levels`: Y of YIQ from the float32 [0, 1] image, scaled to 0..255 and rounded.
  pyiqa gets it from a 3x3 matrix product; ``(R*0.299 + G*0.587) + B*0.114`` in float32
  rounds identically for all 2^24 8-bit colours (checked exhaustively; a half-level
  difference would flip the rounding) and needs no BLAS call;
* :func:`imresize`: MATLAB's ``imresize`` (bicubic, a = -0.5, antialiasing when shrinking,
  edges mirrored with the edge pixel repeated), computed in float32 whatever the input
  dtype, as pyiqa's port does. The taps are gathered per output row/column instead of
  unfolding the whole image once per tap (``taps`` copies of the image); the same products
  are summed by torch's reduction over the taps, whole or cut at multiples of its vector
  block (which keeps each value's order of summation), so the values are bit-identical;
* :func:`gaussian_window`, :func:`local_moments`, :func:`mscn`: MATLAB's
  ``fspecial('gaussian')`` (float32 taps) and ``imfilter`` with replicated or zero borders.
  On the CPU the filter is OpenCV's direct ``filter2D`` (torch's float64 ``conv2d`` is ~25x
  slower), elsewhere torch's ``conv2d``. For 8-bit levels in float64 both are *exact*
  (every product and partial sum is a multiple of 2^-33 below 2^16, so no summation order
  rounds). That matters: in flat regions ``x - mu`` is the tiny ``x (1 - sum(window))``
  left by the float32 taps, and its sign decides on which side of an AGGD fit a pixel
  counts, so a separable or FFT filter would change the scores of dark images;
* :func:`neighbour_moments` and :class:`GridFit`: the GGD / AGGD moment-matching fits
  against the table of gamma = 0.2, 0.201, ..., 10 (a float32 grid) that pyiqa searches.
  pyiqa takes ``argmin |table - r|`` over the 9,801 entries for every fit; the table is
  strictly monotonic, so a binary search and a comparison of the two neighbours give the
  same index (ties to the lower one, NaN to index 0, as ``argmin`` does).

**Threads.** On the CPU the element-wise steps are numpy (one single-threaded pass each),
every torch operation touches at most :data:`CPU_CHUNK` elements, which torch runs on the
calling thread (its grain size), and rounding goes through numpy, because torch hands it
(and square roots, exponentials) to MKL's vector library, which wakes a thread team even
for 150 numbers. On a shared 2-core machine under load such a wake-up costs ~15 ms (an
11 MB ``clamp`` took 16 ms with 2 threads, 0.3 ms in pieces; a 150-element ``sqrt`` 15 ms):
the metric must not depend on other processes leaving a core free. The second core is used
by one helper thread (:func:`helper_thread`) whose work releases the GIL and never spins.
On other devices each step is one operation over the whole batch. ``DEVICE_PATH_ON_CPU``
(tests) runs the device path on CPU tensors.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: Y row of YIQ (pyiqa's ``rgb2yiq``)
Y_WEIGHTS = (0.299, 0.587, 0.114)
#: at most this many elements per torch operation on the CPU (torch's grain size)
CPU_CHUNK = 32768
#: tests set this to run the one-piece device path (CUDA's) on CPU tensors
DEVICE_PATH_ON_CPU = False


def in_pieces(x: torch.Tensor) -> bool:
    """Whether work on ``x`` goes in pieces on the calling thread (the CPU path)."""
    return x.device.type == "cpu" and not DEVICE_PATH_ON_CPU


def row_pieces(height: int, row_elements: int, serial: bool) -> list[slice]:
    """Slices of ``range(height)``: pieces of at most :data:`CPU_CHUNK` elements (rows of
    ``row_elements``) when ``serial``, else one."""
    if not serial:
        return [slice(0, height)]
    step = max(1, CPU_CHUNK // max(1, row_elements))
    return [slice(top, min(top + step, height)) for top in range(0, height, step)]


_HELPER: tuple[int, Any] | None = None


def helper_thread() -> Any:
    """This process's one helper thread (a ``ThreadPoolExecutor``), made on first use.

    The CPU path runs its steps on the calling thread and one helper, each step a single
    thread's work (numpy, OpenCV, torch pieces below the grain size) that releases the GIL:
    two cores' worth of work without a thread team that spins while the cores are busy
    elsewhere. Per process id, so a forked child never waits on its parent's thread.
    """
    global _HELPER
    import os
    from concurrent.futures import ThreadPoolExecutor

    if _HELPER is None or _HELPER[0] != os.getpid():
        _HELPER = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="llebench-nss"))
    return _HELPER[1]


def round_(x: torch.Tensor) -> torch.Tensor:
    """In-place rounding, halves to even (numpy's on the CPU path: the same values)."""
    if in_pieces(x):
        array = x.numpy()
        np.rint(array, out=array)
        return x
    return x.round_()


def y_levels(images: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Rounded Y levels 0..255 of Nx3xHxW [0,1] float32 images: Nx1xHxW in ``dtype``."""
    n, _, height, width = images.shape
    out = torch.empty((n, 1, height, width), dtype=dtype, device=images.device)
    if in_pieces(images):  # numpy: one single-threaded pass per step, the same float32 operations
        w0, w1, w2 = (np.float32(v) for v in Y_WEIGHTS)
        y = np.empty((height, width), dtype=np.float32)
        term = np.empty_like(y)
        levels = out.numpy()
        for i in range(n):
            r, g, b = images[i].numpy()
            np.multiply(r, w0, out=y)
            y += np.multiply(g, w1, out=term)
            y += np.multiply(b, w2, out=term)
            y *= np.float32(255)
            levels[i, 0] = np.rint(y, out=y)
        return out
    w0, w1, w2 = (torch.tensor(v, dtype=images.dtype, device=images.device) for v in Y_WEIGHTS)
    r, g, b = images.unbind(-3)
    out[:, 0] = (((r * w0 + g * w1) + b * w2) * 255).round()
    return out


# -- MATLAB imresize --------------------------------------------------------------------

def _cubic(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel (MATLAB's, a = -0.5)."""
    ax = x.abs()
    ax2 = ax * ax
    ax3 = ax * ax2
    inner = ((a + 2) * ax3 - (a + 3) * ax2 + 1) * ax.le(1).to(x.dtype)
    outer = ((a * ax3) - (5 * a * ax2) + (8 * a * ax) - (4 * a)) * (ax.gt(1) & ax.le(2)).to(x.dtype)
    return inner + outer


@lru_cache(maxsize=64)
def _resize_plan(n_in: int, n_out: int, scale: float, antialiasing: bool,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(source index, weight) of every tap, each ``taps x n_out``: output i is
    ``sum_t weight[t, i] * x[index[t, i]]`` (float32 weights)."""
    taps = 4
    if antialiasing and scale < 1:
        stretch = scale
        taps = math.ceil(taps / stretch)
    else:
        stretch = 1
    taps += 2
    pos = torch.linspace(0, n_out - 1, steps=n_out, dtype=torch.float32, device=device)
    pos = (pos + 0.5) / scale - 0.5
    base = pos.floor() - (taps // 2) + 1
    dist = pos - base
    offsets = dist.unsqueeze(0) - torch.arange(taps, dtype=torch.float32, device=device).unsqueeze(1)
    offsets *= stretch
    weight = _cubic(offsets)
    weight /= weight.sum(dim=0, keepdim=True)
    index = base.long().unsqueeze(0) + torch.arange(taps, device=device).unsqueeze(1)
    # mirrored at the edges, the edge pixel repeated: -1 -> 0, -2 -> 1, n -> n - 1, ...
    index = torch.where(index < 0, -index - 1, index)
    index = torch.where(index >= n_in, 2 * n_in - 1 - index, index)
    if bool((index < 0).any()) or bool((index >= n_in).any()):
        raise ValueError(f"imresize: {n_in} -> {n_out} pixels needs more mirroring than the image holds")
    return index, weight


@lru_cache(maxsize=1)
def sum_block() -> int:
    """Values per block of torch's vectorised sum over an outer axis on this CPU (4 vectors of
    floats): a reduction cut at multiples of it sums every value in the same order as the
    whole reduction (tested against pyiqa's port). 64 unless the CPU is known to use less."""
    return {"AVX2": 32, "AVX512": 64}.get(torch.backends.cpu.get_cpu_capability(), 64)


def _resize_pass(x: torch.Tensor, along_rows: bool, n_out: int, scale: float, antialiasing: bool,
                 serial: bool, divide_by: float | None, dtype: torch.dtype,
                 multiply_by: float | None) -> torch.Tensor:
    """One axis of :func:`imresize` over B x H x W: ``out = sum_t weight_t * x[taps]``, in
    ``dtype`` (times ``multiply_by`` when given).

    The products are pyiqa's port's (``x / divide_by`` in x's dtype, then float32), and so is
    the reduction: torch's sum over the taps of the whole output plane. On the CPU path the
    products are made by numpy (large single-threaded operations) and the plane is summed in
    pieces cut at multiples of :func:`sum_block`, which keeps every value's order of summation.
    """
    b, height, width = x.shape
    index, weight = _resize_plan(height if along_rows else width, n_out, scale, antialiasing, x.device)
    taps = index.shape[0]
    out_h, out_w = (n_out, width) if along_rows else (height, n_out)
    if not serial:  # pyiqa's layout: B x taps x H x W, summed over the taps
        if along_rows:
            sample = x.index_select(-2, index.flatten()).view(b, taps, n_out, width)
            taps_weight = weight.view(1, taps, n_out, 1)
        else:
            sample = x.index_select(-1, index.flatten()).view(b, height, taps, n_out).transpose(1, 2).contiguous()
            taps_weight = weight.view(1, taps, 1, n_out)
        if divide_by is not None:
            sample = sample / divide_by
        summed = (sample.float() * taps_weight).sum(dim=1).to(dtype)
        return summed * multiply_by if multiply_by is not None else summed
    index_np, weight_np = index.numpy(), weight.numpy()
    block = sum_block()
    step = max(block, (CPU_CHUNK // taps) // block * block)
    total = out_h * out_w
    out = np.empty((b, total), dtype=np.float32)
    for i in range(b):
        plane = x[i].numpy()
        plane = (plane / divide_by if divide_by is not None else plane).astype(np.float32, copy=False)
        if along_rows:  # products[t, r, w] = plane[index[t, r], w] * weight[t, r]
            products = np.take(plane, index_np.ravel(), axis=0).reshape(taps, n_out, width)
            products *= weight_np[:, :, None]
        else:  # products[t, h, j] = plane[h, index[t, j]] * weight[t, j]
            sample = np.take(plane, index_np.ravel(), axis=1).reshape(height, taps, n_out)
            products = np.empty((taps, height, n_out), dtype=np.float32)
            np.multiply(sample.transpose(1, 0, 2), weight_np[:, None, :], out=products)
        products = torch.from_numpy(products.reshape(taps, total))
        summed = torch.from_numpy(out[i])
        for start in range(0, total, step):
            torch.sum(products[:, start:start + step], dim=0, out=summed[start:start + step])
    result = out.astype(np.dtype(str(dtype).removeprefix("torch.")), copy=False)
    if multiply_by is not None:
        result = result * multiply_by
    return torch.from_numpy(result).view(b, out_h, out_w)


def imresize(x: torch.Tensor, scale: float | None = None, sizes: tuple[int, int] | None = None,
             antialiasing: bool = True, divide_by: float | None = None,
             multiply_by: float | None = None) -> torch.Tensor:
    """MATLAB ``imresize(x, scale)`` / ``imresize(x, [h w])``, bicubic, of the last two axes of
    a float tensor; ``imresize(x / divide_by, ...) * multiply_by`` when those are given (each
    step in the input's dtype, as written).

    Computed in float32 (as pyiqa's port, whatever the input dtype) and returned in the
    input's dtype; ``scale`` gives ``ceil(side * scale)`` pixels. Bit-identical to pyiqa's
    port: the same products summed in the same order (see :func:`_resize_pass`).
    """
    if (scale is None) == (sizes is None):
        raise ValueError("imresize: give exactly one of scale and sizes")
    if not x.dtype.is_floating_point:
        raise TypeError(f"imresize: expected a float tensor, got {x.dtype}")
    *lead, height, width = x.shape
    if sizes is None:
        sizes = (math.ceil(height * scale), math.ceil(width * scale))
        scales = (scale, scale)
    else:
        scales = (sizes[0] / height, sizes[1] / width)
    serial = in_pieces(x)
    out = x.reshape(-1, height, width)
    if scales[0] != 1:
        out = _resize_pass(out, True, sizes[0], scales[0], antialiasing, serial, divide_by, torch.float32, None)
    else:
        out = (out / divide_by if divide_by is not None else out).float()
    if scales[1] != 1:
        out = _resize_pass(out, False, sizes[1], scales[1], antialiasing, serial, None, x.dtype, multiply_by)
    else:
        out = out.to(x.dtype) * multiply_by if multiply_by is not None else out.to(x.dtype)
    return out.view(*lead, *sizes)


# -- Gaussian window, local moments, MSCN ------------------------------------------------

@lru_cache(maxsize=8)
def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)`` with float32 taps (as float64 values)."""
    half = (size - 1) / 2
    y, x = np.ogrid[-half:half + 1, -half:half + 1]
    window = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    window[window < np.finfo(window.dtype).eps * window.max()] = 0
    total = window.sum()
    if total != 0:
        window /= total
    return window.astype(np.float32).astype(np.float64)


def local_moments(x: torch.Tensor, window: np.ndarray, border: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``imfilter(x, window)`` and ``imfilter(x.^2, window)`` of Nx1xHxW ('same' size), with
    ``border`` 'replicate' or 'zero'."""
    size = window.shape[0]
    if in_pieces(x):
        import cv2  # direct filter2D: no im2col copy, no thread team of torch's

        flag = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
        array = x.detach().contiguous().numpy()
        kernel = window.astype(array.dtype)
        mu, second = np.empty_like(array), np.empty_like(array)
        for i in range(array.shape[0]):
            plane = array[i, 0]
            cv2.filter2D(plane, -1, kernel, dst=mu[i, 0], borderType=flag)
            cv2.filter2D(np.multiply(plane, plane), -1, kernel, dst=second[i, 0], borderType=flag)
        return torch.from_numpy(mu), torch.from_numpy(second)
    pad = size // 2
    mode = "replicate" if border == "replicate" else "constant"
    both = F.pad(torch.cat([x, x * x], dim=1), (pad, pad, pad, pad), mode=mode)
    weights = torch.from_numpy(window).to(x).view(1, 1, size, size).expand(2, 1, size, size)
    filtered = F.conv2d(both, weights, groups=2)
    return filtered[:, :1], filtered[:, 1:]


def mscn(x: torch.Tensor, window: np.ndarray, border: str) -> torch.Tensor:
    """Mean-subtracted contrast-normalised coefficients ``(x - mu) / (sqrt(|E[x^2] - mu^2| + eps) + 1)``."""
    mu, second = local_moments(x, window, border)
    eps = torch.finfo(x.dtype).eps
    if in_pieces(x):  # numpy, in place: the same operations in the same order
        m, sigma = mu.numpy(), second.numpy()
        sigma -= m * m
        np.abs(sigma, out=sigma)
        sigma += eps
        np.sqrt(sigma, out=sigma)
        sigma += 1
        return torch.from_numpy(np.divide(x.numpy() - m, sigma, out=sigma))
    return (x - mu) / ((second - mu * mu).abs() + eps).sqrt().add_(1)


# -- moments of the coefficients and of neighbour products -------------------------------

#: what :func:`aggd_moments` gives, in order
MOMENTS = ("count_left", "count_right", "square_left", "square_right", "abs_sum")


def aggd_moments(x: torch.Tensor) -> torch.Tensor:
    """Per row of ``x`` (..., M): #negative, #positive, sum of squares of the negative and of
    the positive values, sum of absolute values; (..., 5) in ``x``'s dtype.

    The counts come from the signs (exact); each side's squares are summed on their own
    (not as a difference of two totals, which would lose a side of tiny values).
    """
    sign = torch.sign(x)
    negative = torch.clamp(x, max=0)
    positive = torch.clamp(x, min=0)
    nonzero = torch.linalg.vecdot(sign, sign)
    balance = sign.sum(-1)  # #positive - #negative
    return torch.stack([(nonzero - balance) / 2, (nonzero + balance) / 2,
                        torch.linalg.vecdot(negative, negative), torch.linalg.vecdot(positive, positive),
                        torch.linalg.vecdot(x, sign)], dim=-1)


def _wrapped(part: torch.Tensor, top: int, bottom: int, whole: torch.Tensor) -> torch.Tensor:
    """Rows ``top-1 .. bottom`` of each tile (``whole``: k x H x W; ``part`` its rows top..bottom),
    one wrapped pixel on either side: ``out[i + 1 - top, j + 1] = whole[i mod H, j mod W]``."""
    k, height, width = whole.shape
    out = torch.empty((k, bottom - top + 2, width + 2), dtype=whole.dtype, device=whole.device)
    out[:, 1:-1, 1:-1] = part
    out[:, 0, 1:-1] = whole[:, (top - 1) % height]
    out[:, -1, 1:-1] = whole[:, bottom % height]
    out[:, :, 0] = out[:, :, -2]
    out[:, :, -1] = out[:, :, 1]
    return out


def neighbour_moments(image: torch.Tensor, tile: tuple[int, int],
                      shifts: tuple[tuple[int, int], ...], tile_rows: tuple[int, int] | None = None) -> torch.Tensor:
    """:func:`aggd_moments` of every ``tile``-sized tile of N x H x W coefficients (tiles in
    row-major order; H and W multiples of the tile) and of each tile's products with its
    circularly shifted copies (``tile * torch.roll(tile, shift)``, wrapping inside the tile):
    (1 + #shifts) x N x tiles x 5.

    ``tile_rows = (top, bottom)`` (CPU path): only the pixels of rows top..bottom of each tile
    (the moments of a tile are the sums of those of its row ranges).
    """
    n, height, width = image.shape
    th, tw = tile
    rows, cols = height // th, width // tw
    if (rows * th, cols * tw) != (height, width):
        raise ValueError(f"{height}x{width} is not a whole number of {th}x{tw} tiles")
    per_image = rows * cols
    moments = torch.zeros((1 + len(shifts), n * per_image, 5), dtype=image.dtype, device=image.device)

    def add(tiles: torch.Tensor, where: slice, top: int, bottom: int, whole: torch.Tensor) -> None:
        part = tiles.contiguous()  # rows top..bottom of the k tiles ``whole``
        k, part_rows = part.shape[:2]
        padded = _wrapped(part, top, bottom, whole)
        product = torch.empty_like(part)
        moments[0, where] += aggd_moments(part.view(k, -1))
        for s, (down, right) in enumerate(shifts, start=1):
            # torch.roll(tile, (down, right))[i, j] = tile[i - down, j - right]
            neighbour = padded[:, 1 - down: 1 - down + part_rows, 1 - right: 1 - right + tw]
            torch.mul(part, neighbour, out=product)
            moments[s, where] += aggd_moments(product.view(k, -1))

    if not in_pieces(image):
        tiles = image.reshape(n, rows, th, cols, tw).permute(0, 1, 3, 2, 4).reshape(n * per_image, th, tw)
        add(tiles, slice(None), 0, th, tiles)
        return moments.view(1 + len(shifts), n, per_image, 5)
    tiles_per_piece = max(1, CPU_CHUNK // (th * tw))
    rows_per_piece = max(1, CPU_CHUNK // tw)
    for i in range(n):
        for r in range(rows):
            strip = image[i, r * th:(r + 1) * th]
            for c0 in range(0, cols, tiles_per_piece):
                c1 = min(c0 + tiles_per_piece, cols)
                tiles = strip[:, c0 * tw:c1 * tw].reshape(th, c1 - c0, tw).transpose(0, 1)
                first = i * per_image + r * cols
                where = slice(first + c0, first + c1)
                if th * tw <= CPU_CHUNK and tile_rows is None:
                    add(tiles, where, 0, th, tiles)
                else:  # a tile larger than a piece: its rows in pieces (the moments add up)
                    start, stop = tile_rows or (0, th)
                    for top in range(start, stop, rows_per_piece):
                        bottom = min(top + rows_per_piece, stop)
                        add(tiles[:, top:bottom], where, top, bottom, tiles)
    return moments.view(1 + len(shifts), n, per_image, 5)


# -- GGD / AGGD fits against pyiqa's gamma grid (numpy, on the host) ----------------------

class GridFit:
    """Moment-matching fits of the GGD and AGGD shape on the grid gamma = 0.2:0.001:10,
    in numpy. The tables are computed by torch, as pyiqa's are (same values)."""

    def __init__(self, dtype: torch.dtype) -> None:
        gamma = torch.arange(0.2, 10 + 0.001, 0.001).to(dtype)  # a float32 grid, as pyiqa's
        lg1, lg2, lg3 = torch.lgamma(1.0 / gamma), torch.lgamma(2.0 / gamma), torch.lgamma(3.0 / gamma)
        self.gamma = gamma.numpy()
        #: AGGD: Gamma(2/g)^2 / (Gamma(1/g) Gamma(3/g)), increasing
        self.aggd_table = (2 * lg2 - (lg1 + lg3)).exp().numpy()
        #: GGD: Gamma(1/g) Gamma(3/g) / Gamma(2/g)^2, decreasing (searched negated)
        self.ggd_table = (lg1 + lg3 - 2 * lg2).exp().numpy()
        self._ggd_negated = -self.ggd_table
        if not ((np.diff(self.aggd_table) > 0).all() and (np.diff(self._ggd_negated) > 0).all()):
            raise AssertionError("the gamma tables are not strictly monotonic: a binary search would differ")

    @staticmethod
    def _nearest(table: np.ndarray, ascending: np.ndarray, value: np.ndarray, negated: bool) -> np.ndarray:
        """``argmin |table - value|`` for a monotonic ``table`` (``ascending`` is it or its negation)."""
        value = np.asarray(value, dtype=table.dtype)
        with np.errstate(invalid="ignore"):
            upper = np.searchsorted(ascending, -value if negated else value).clip(max=table.size - 1)
            lower = (upper - 1).clip(min=0)
            index = np.where(np.abs(table[lower] - value) <= np.abs(table[upper] - value), lower, upper)
        return np.where(np.isfinite(value), index, 0)  # all distances NaN or infinite: argmin gives 0

    def aggd(self, moments: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """AGGD fit from :func:`aggd_moments` (..., 5) of ``size`` samples each: (alpha, left std, right std)."""
        count_left, count_right, square_left, square_right, abs_sum = np.moveaxis(moments, -1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            left_std = np.sqrt(square_left / count_left)
            right_std = np.sqrt(square_right / count_right)
            gammahat = left_std / right_std
            rhat = (abs_sum / size) ** 2 / ((square_left + square_right) / size)
            rhatnorm = (rhat * (gammahat ** 3 + 1) * (gammahat + 1)) / (gammahat ** 2 + 1) ** 2
        alpha = self.gamma[self._nearest(self.aggd_table, self.aggd_table, rhatnorm, False)]
        return alpha, left_std, right_std

    def ggd(self, moments: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """GGD fit from :func:`aggd_moments` (..., 5) of ``size`` samples each: (alpha, sigma)."""
        _, _, square_left, square_right, abs_sum = np.moveaxis(moments, -1, 0)
        sigma_sq = (square_left + square_right) / size
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = sigma_sq / (abs_sum / size) ** 2
        alpha = self.gamma[self._nearest(self.ggd_table, self._ggd_negated, rho, True)]
        return alpha, np.sqrt(sigma_sq)


@lru_cache(maxsize=4)
def grid_fit(dtype: torch.dtype) -> GridFit:
    return GridFit(dtype)
