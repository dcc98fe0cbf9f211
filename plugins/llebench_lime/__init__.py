"""Built-in plugin: LIME (Guo, Li, Ling, TIP 2017), the ``lime`` enhancer."""

from llebench.sdk import hookimpl

from llebench_lime.enhancer import Lime


@hookimpl
def llebench_register_enhancers(register):
    register(Lime)
