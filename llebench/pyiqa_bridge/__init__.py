"""pyiqa under llebench's weights resolution (public through :mod:`llebench.sdk.pyiqa`):
the files pyiqa's metrics download, and building pyiqa metrics (or losses, such as LPIPS)
with every file coming from ``$LLEBENCH_WEIGHTS``, the cache or a verified download."""
