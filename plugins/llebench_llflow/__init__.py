"""Built-in plugin: LLFlow (Wang et al., AAAI 2022) — the enhancer with the official test
procedures and weights, and its training recipe (``llebench train llflow``).

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_enhancers(register):
    register(Deferred("llflow", "llebench_llflow.enhancer:LLFlow"))


@hookimpl
def llebench_register_trainers(register):
    register(Deferred("llflow", "llebench_llflow.trainer:LLFlowTrainer"))
