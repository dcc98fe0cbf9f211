"""Pretrained networks that several plugins share (public through :mod:`llebench.sdk.nets`):
frozen VGG feature extractors, the Cityscapes DeepLabV3+ segmenter, Cityscapes label
conventions and confusion-matrix mIoU."""
