"""DeepLabV3+ MobileNetV2 (VainF/DeepLabV3Plus-Pytorch layout) for Cityscapes.

A library package, not a plugin: it registers nothing. Used by the SCL-LLE trainer
(semantic loss) and by the ``miou`` metric. Public API::

    from llebench_deeplab import Segmenter, DEEPLAB_CITYSCAPES_WEIGHTS, label_ids_to_train_ids
    seg = Segmenter.pretrained(device="cpu")     # resolves the published checkpoint
    labels = seg.predict(images)                 # Nx3xHxW [0,1] -> NxHxW train ids
"""

from llebench_deeplab.checkpoint import DEEPLAB_CITYSCAPES_WEIGHTS, load_deeplab, read_vainf_state_dict
from llebench_deeplab.cityscapes import (
    IGNORE_INDEX,
    LABEL_ID_TO_TRAIN_ID,
    NUM_CLASSES,
    TRAIN_CLASS_NAMES,
    TRAIN_ID_COLORS,
    label_ids_to_train_ids,
)
from llebench_deeplab.deeplab import DeepLabV3PlusMobileNet
from llebench_deeplab.segmenter import IMAGENET_MEAN, IMAGENET_STD, Segmenter

__all__ = [
    "DEEPLAB_CITYSCAPES_WEIGHTS", "DeepLabV3PlusMobileNet", "IGNORE_INDEX", "IMAGENET_MEAN",
    "IMAGENET_STD", "LABEL_ID_TO_TRAIN_ID", "NUM_CLASSES", "Segmenter", "TRAIN_CLASS_NAMES",
    "TRAIN_ID_COLORS", "label_ids_to_train_ids", "load_deeplab", "read_vainf_state_dict",
]
