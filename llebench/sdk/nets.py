"""Pretrained networks plugins share: frozen VGG features, the Cityscapes DeepLabV3+
segmenter, Cityscapes label conventions, confusion matrices and mIoU (imports torch)."""

from llebench.nets.cityscapes import (
    IGNORE_INDEX, LABEL_ID_TO_TRAIN_ID, NUM_CLASSES, TRAIN_CLASS_NAMES, TRAIN_ID_COLORS, label_ids_to_train_ids,
)
from llebench.nets.confusion import CONFUSION_KEY, confusion_matrix, iou_per_class, mean_iou
from llebench.nets.deeplab import DeepLabV3PlusMobileNet
from llebench.nets.segmenter import DEEPLAB_CITYSCAPES_WEIGHTS, IMAGENET_MEAN, IMAGENET_STD, Segmenter, load_deeplab
from llebench.nets.vgg import (
    VGG16_IMAGENET_WEIGHTS, VGG19_IMAGENET_WEIGHTS, VGGFeatures, layer_names as vgg_layer_names,
)

__all__ = [
    "CONFUSION_KEY", "DEEPLAB_CITYSCAPES_WEIGHTS", "DeepLabV3PlusMobileNet", "IGNORE_INDEX", "IMAGENET_MEAN",
    "IMAGENET_STD", "LABEL_ID_TO_TRAIN_ID", "NUM_CLASSES", "Segmenter", "TRAIN_CLASS_NAMES", "TRAIN_ID_COLORS",
    "VGG16_IMAGENET_WEIGHTS", "VGG19_IMAGENET_WEIGHTS", "VGGFeatures", "confusion_matrix", "iou_per_class",
    "label_ids_to_train_ids", "load_deeplab", "mean_iou", "vgg_layer_names",
]
