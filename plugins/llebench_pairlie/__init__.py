"""Built-in plugin: PairLIE (Fu et al., CVPR 2023), the ``pairlie`` enhancer."""

from llebench.sdk import hookimpl

from llebench_pairlie.enhancer import PairLIE


@hookimpl
def llebench_register_enhancers(register):
    register(PairLIE)
