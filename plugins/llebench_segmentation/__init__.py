"""Built-in plugin: semantic segmentation after enhancement (SCL-LLE Table 4).

Registers the ``cityscapes_val`` dataset and the ``miou`` metric; the network is the SDK's
DeepLabV3+ (:mod:`llebench.sdk.nets`, shared with the SCL-LLE trainer).
"""

from llebench.sdk import hookimpl

from llebench_segmentation.dataset import CityscapesVal
from llebench_segmentation.metric import MeanIoU


@hookimpl
def llebench_register_datasets(register):
    register(CityscapesVal)


@hookimpl
def llebench_register_metrics(register):
    register(MeanIoU)
