"""Built-in plugin: semantic segmentation after enhancement (SCL-LLE Table 4).

Registers the ``cityscapes_val`` dataset and the ``miou`` metric; the network is the SDK's
DeepLabV3+ (:mod:`llebench.sdk.nets`, shared with the SCL-LLE trainer).

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_datasets(register):
    register(Deferred("cityscapes_val", "llebench_segmentation.dataset:CityscapesVal"))


@hookimpl
def llebench_register_metrics(register):
    register(Deferred("miou", "llebench_segmentation.metric:MeanIoU"))
