"""pyiqa under llebench's weights resolution: the files its metrics download, and building
its metrics or losses with every file from ``$LLEBENCH_WEIGHTS``, the cache or a verified
download (``with routed_downloads() as used: pyiqa.create_metric(...)``)."""

from llebench.pyiqa_bridge.files import KNOWN_BY_URL, PYIQA_FILES, files_for
from llebench.pyiqa_bridge.loading import resolve_all, routed_downloads, spec_for_url

__all__ = ["KNOWN_BY_URL", "PYIQA_FILES", "files_for", "resolve_all", "routed_downloads", "spec_for_url"]
