"""Built-in plugin: RUAS (Liu et al., CVPR 2021), the ``ruas`` enhancer with the authors'
three checkpoints (variants ``upe``, ``lol``, ``dark``)."""

from llebench.sdk import hookimpl

from llebench_ruas.enhancer import RUAS


@hookimpl
def llebench_register_enhancers(register):
    register(RUAS)
