"""Cityscapes label conventions: the 34 label ids of ``*_gtFine_labelIds.png`` -> 19 train ids.

Values follow cityscapesScripts ``labels.py`` (as copied in VainF's ``datasets/cityscapes.py``):
classes marked ``ignoreInEval`` and every value outside 0..33 map to :data:`IGNORE_INDEX`.
"""

from __future__ import annotations

import numpy as np
import torch

NUM_CLASSES = 19
IGNORE_INDEX = 255

#: label id -> train id for the 19 evaluated classes (all other ids are ignored)
_EVALUATED_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}

TRAIN_CLASS_NAMES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)

#: colour of each train id in the official palette (for overlays)
TRAIN_ID_COLORS: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)


def _lookup_table() -> np.ndarray:
    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for label_id, train_id in _EVALUATED_IDS.items():
        table[label_id] = train_id
    return table


LABEL_ID_TO_TRAIN_ID: np.ndarray = _lookup_table()
LABEL_ID_TO_TRAIN_ID.setflags(write=False)


def label_ids_to_train_ids(label_ids: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Map a ``*_labelIds.png`` array (uint8 0..33) to train ids (0..18, 255 = ignore).

    Keeps the container type: numpy in -> uint8 numpy out; tensor in -> int64 tensor out.
    """
    if isinstance(label_ids, torch.Tensor):
        table = torch.from_numpy(LABEL_ID_TO_TRAIN_ID.astype(np.int64)).to(label_ids.device)
        return table[label_ids.long().clamp(0, 255)]
    array = np.asarray(label_ids)
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError("label ids must lie in 0..255")
        array = array.astype(np.uint8)
    return LABEL_ID_TO_TRAIN_ID[array]
