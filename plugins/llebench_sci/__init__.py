"""Built-in plugin: SCI, Self-Calibrated Illumination (Ma et al., CVPR 2022), official weights."""

from llebench.sdk import hookimpl

from llebench_sci.enhancer import SCI


@hookimpl
def llebench_register_enhancers(register):
    register(SCI)
