"""The official test procedures around the network (``code/test_unpaired.py``, ``code/test.py``)
and the training input of ``LoL_Dataset``.

Both test scripts read the image with OpenCV as 8-bit RGB and build the 6-channel network
input ``[log(clamp(x + 1e-3, min=1e-3)), histeq(x)/255]`` with ``x = uint8/255`` and a
per-channel ``cv2.equalizeHist``. They differ in everything else:

``test_unpaired.py`` (no reference; llebench's default)
    pads with ``cv2.BORDER_REFLECT`` (the edge pixel repeated) up to a multiple of 16,
    centred (top = (16 - h % 16) // 2, bottom the rest). A side that is already a multiple
    of 16 still gets 16 more pixels (8 + 8). The histogram equalisation sees the *padded*
    image. Output: clamp to [0, 1], the padding cropped off, truncated to uint8.

``test.py`` (paired, the paper's LOL numbers)
    equalises the *unpadded* image, then pads the image (not the equalised one) at the
    bottom/right to a multiple of 2 with numpy's ``reflect``; an odd size then crashes and
    a size that is not a multiple of 8 fails in the network, so only multiples of 8 work
    (LOL's 400x600 are). The output is rescaled to the reference's mean brightness
    (KinD's protocol): ``out * mean_gt / mean(out)`` with ``mean_gt`` the mean of
    ``cv2.cvtColor(gt, COLOR_BGR2GRAY)`` computed on the *RGB* array, i.e. with the grey
    weights 0.114 R + 0.587 G + 0.299 B; then clamp and truncation to uint8.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

#: the padding multiple of ``test_unpaired.py``'s ``auto_padding``
UNPAIRED_MULTIPLE = 16


def levels(image: torch.Tensor) -> torch.Tensor:
    """The 8-bit values (as float 0..255) of a 1x3xHxW [0, 1] image read from an 8-bit file."""
    return torch.round(image.float().clamp(0.0, 1.0) * 255.0)


def to_uint8_hwc(values: torch.Tensor) -> np.ndarray:
    """1x3xHxW float levels 0..255 -> HxWx3 uint8 array on the CPU."""
    return values[0].permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def equalize(rgb: np.ndarray) -> np.ndarray:
    """``cv2.equalizeHist`` on each channel of an HxWx3 uint8 array."""
    return np.ascontiguousarray(np.stack([cv2.equalizeHist(np.ascontiguousarray(rgb[:, :, c])) for c in range(3)],
                                         axis=2))


def network_input(values: torch.Tensor, equalized: np.ndarray) -> torch.Tensor:
    """``[log(clamp(x + 1e-3, min=1e-3)), histeq/255]`` for 8-bit levels ``values`` (1x3xHxW)."""
    x = values / 255.0
    his = torch.from_numpy(equalized).to(values.device).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    return torch.cat([torch.log(torch.clamp(x + 1e-3, min=1e-3)), his], dim=1)


def unpaired_padding(height: int, width: int) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of ``auto_padding`` (16 extra pixels on a side already
    divisible by 16: the official quirk)."""
    extra_h = UNPAIRED_MULTIPLE - height % UNPAIRED_MULTIPLE
    extra_w = UNPAIRED_MULTIPLE - width % UNPAIRED_MULTIPLE
    return extra_h // 2, extra_h - extra_h // 2, extra_w // 2, extra_w - extra_w // 2


def symmetric_indices(size: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    """Source indices of ``cv2.BORDER_REFLECT`` (``fedcba|abcdefgh|hgfedcb``), repeated as
    OpenCV does when the border is longer than the image."""
    positions = torch.arange(-before, size + after, device=device) % (2 * size)
    return torch.where(positions < size, positions, 2 * size - 1 - positions)


def pad_symmetric(values: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    top, bottom, left, right = pad
    rows = symmetric_indices(values.shape[2], top, bottom, values.device)
    cols = symmetric_indices(values.shape[3], left, right, values.device)
    return values.index_select(2, rows).index_select(3, cols)


def unpaired_input(image: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """The network input of ``test_unpaired.py`` and its padding ``(top, bottom, left, right)``."""
    pad = unpaired_padding(image.shape[2], image.shape[3])
    padded = pad_symmetric(levels(image), pad)
    return network_input(padded, equalize(to_uint8_hwc(padded))), pad


def paired_input(image: torch.Tensor) -> torch.Tensor:
    """The network input of ``test.py`` (sizes that are multiples of 8 need no padding)."""
    height, width = image.shape[2], image.shape[3]
    if height % 8 or width % 8:
        raise ValueError(f"the official paired test (test.py) only works for sizes that are multiples of 8 "
                         f"(LOL's 400x600 are); this image is {height}x{width}")
    values = levels(image)
    return network_input(values, equalize(to_uint8_hwc(values)))


def grey_mean_as_official(reference: torch.Tensor) -> float:
    """``cv2.cvtColor(gt.astype(float32), COLOR_BGR2GRAY).mean() / 255`` on the *RGB* array."""
    rgb = to_uint8_hwc(levels(reference)).astype(np.float32)
    return float(cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY).mean() / 255)


def gt_mean_rescale(output: torch.Tensor, mean_gt: float) -> torch.Tensor:
    """``clamp(out * (mean_gt / mean(out)), 0, 1)`` as ``test.py`` computes it (``np.float32 /
    tensor`` is ``tensor.reciprocal() * scalar`` in torch)."""
    mean_out = output.reshape(output.shape[0], -1).mean(dim=1)
    factor = torch.reciprocal(mean_out) * mean_gt
    return torch.clamp(output * factor.view(-1, 1, 1, 1), 0.0, 1.0)


# -- training input (LoL_Dataset) ------------------------------------------------------------

def training_pair(low: np.ndarray, high: np.ndarray, equalized: np.ndarray, crop: int, flip: bool,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(LQ 6xcxc, GT 3xcxc)`` of ``LoL_Dataset.__getitem__`` from HxWx3 uint8 RGB arrays.

    The random crop (top-left corner uniform over the valid positions; 0 on a side not
    larger than ``crop``) and the horizontal flip (probability 1/2) are drawn from
    ``generator``; the histogram equalisation was computed on the *whole* low image.
    """
    height, width = low.shape[:2]
    y = int(torch.randint(0, height - crop + 1, (1,), generator=generator)) if height > crop else 0
    x = int(torch.randint(0, width - crop + 1, (1,), generator=generator)) if width > crop else 0
    arrays = [a[y:y + crop, x:x + crop] for a in (low, high, equalized)]
    if flip and bool(torch.randint(0, 2, (1,), generator=generator)):
        arrays = [a[:, ::-1] for a in arrays]
    low_t, high_t, his_t = (torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255.0
                            for a in arrays)
    lq = torch.cat([torch.log(torch.clamp(low_t + 1e-3, min=1e-3)), his_t], dim=0)
    return lq, high_t
