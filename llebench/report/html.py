"""Self-contained HTML pages (inline CSS, no network) rendered with autoescaping jinja2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from llebench.report.tables import Table, arrow, settings_text
from llebench.atomic import atomic_write_text

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("llebench.report", "templates"),
    autoescape=True,  # every method, dataset and image name is user-controlled
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["arrow"] = arrow
_ENV.filters["settings_text"] = lambda settings: markupsafe.Markup(
    settings_text(settings).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))  # element text only


def provenance(manifest: dict[str, Any]) -> dict[str, Any]:
    """The footer facts: versions, commit, device, weights hashes, settings."""
    return {
        "versions": manifest.get("versions", {}),
        "git_commit": manifest.get("git_commit"),
        "device": manifest.get("device"),
        "platform": manifest.get("platform"),
        "finished": manifest.get("finished"),
        "methods": manifest.get("methods", {}),
        "datasets": manifest.get("datasets", {}),
        "metrics": manifest.get("metrics", {}),
        "plugins": manifest.get("plugins", {}),
        "bootstrap": manifest.get("bootstrap"),
    }


def render_page(title: str, tables: list[tuple[str, Table]], manifest: dict[str, Any], template: str = "page.html.j2",
                **extra: Any) -> str:
    return _ENV.get_template(template).render(
        title=title, tables=tables, prov=provenance(manifest), **extra
    )


def write_page(path: Path, html: str) -> Path:
    atomic_write_text(path, html)
    return path
