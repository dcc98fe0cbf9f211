"""llebench: a plugin-based benchmark harness for low-light image enhancement.

Plugins import :mod:`llebench.sdk` and nothing else: it is the public, stable API. Every
other module of this package is private to llebench and may change in any release (as
``_pytest`` is to ``pytest``); see docs/plugins.md.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
