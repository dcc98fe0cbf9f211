"""llebench: a plugin-based benchmark harness for low-light image enhancement."""

from llebench.hookimpl import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
