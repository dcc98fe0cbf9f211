"""Built-in plugin: classical baselines with OpenCV, the ``he``, ``clahe`` and ``gamma`` enhancers."""

from llebench.sdk import hookimpl

from llebench_classical.methods import ENHANCERS


@hookimpl
def llebench_register_enhancers(register):
    for enhancer in ENHANCERS:
        register(enhancer)
