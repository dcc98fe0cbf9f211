"""Built-in plugin: CLIP-LIT (Liang et al., ICCV 2023), the ``clip_lit`` enhancer."""

from llebench.sdk import hookimpl

from llebench_clip_lit.enhancer import CLIPLIT


@hookimpl
def llebench_register_enhancers(register):
    register(CLIPLIT)
