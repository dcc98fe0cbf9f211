"""The marker plugins use to implement hooks (public as ``llebench.sdk.hookimpl``)."""

import pluggy

hookimpl = pluggy.HookimplMarker("llebench")
