"""Built-in plugin: classical baselines with OpenCV, the ``he``, ``clahe`` and ``gamma`` enhancers.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    for name, target in (
        ("he", "llebench_classical.methods:HistogramEqualisation"),
        ("clahe", "llebench_classical.methods:CLAHE"),
        ("gamma", "llebench_classical.methods:Gamma"),
    ):
        register(Deferred(name, target))
