"""The marker plugins use to implement hooks: ``from llebench import hookimpl``."""

import pluggy

hookimpl = pluggy.HookimplMarker("llebench")
