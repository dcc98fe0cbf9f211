"""The report of a real DICM run in headless Chromium, opened from file://: no console
errors, no network requests, sorting by a header click works, a screenshot is taken."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from cdp_pipe import Browser, find_chromium
from llebench.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dicm_run(tmp_path_factory, shared_data, shared_weights):
    out = tmp_path_factory.mktemp("dicm") / "run"
    code = main(["run", "--methods", "input,zero_dce,scl_lle", "--datasets", "dicm", "--metrics", "niqe,seconds",
                 "--limit", "2", "--out", str(out), "--no-progress", "--no-report"])
    assert code == 0
    assert main(["report", str(out), "--layout", "leaderboard"]) == 0
    assert main(["report", str(out), "--layout", "table1"]) == 0
    return out


@pytest.mark.parametrize("page", ["report.html", "report_table1.html"])
def test_report_in_headless_chromium(dicm_run, page, tmp_path):
    executable = find_chromium()
    if executable is None:
        pytest.fail("chromium is not installed (apt-get install chromium; CI installs it via .ci/needs-chromium)")
    browser = Browser(executable)
    try:
        browser.open_page()
        browser.send("Page.navigate", {"url": (dicm_run / page).as_uri()})
        browser.wait_for("Page.loadEventFired")
        assert browser.evaluate("document.querySelectorAll('table.scores tbody').length") >= 3
        figures = browser.evaluate("document.querySelectorAll('figure.tile img.thumb').length")
        assert figures >= 2 * 3  # two images x (input, zero_dce, scl_lle)
        assert browser.evaluate("document.querySelectorAll('figure.tile img').length") == browser.evaluate(
            "Array.from(document.querySelectorAll('figure.tile img')).filter(i => i.naturalWidth > 0).length")
        # each thumbnail links to its full-size output, which exists in the run directory
        targets = browser.evaluate("Array.from(document.querySelectorAll('figure.tile a')).map(a => a.href)")
        assert len(targets) == 2 * 2  # two images x (zero_dce, scl_lle); the input caches nothing
        paths = [Path(url2pathname(urlparse(url).path)) for url in targets]
        assert all(url.startswith("file://") for url in targets) and all(p.is_file() for p in paths), targets
        assert all(p.is_relative_to(dicm_run / "images") and p.suffix == ".png" for p in paths)

        order = ("Array.from(document.querySelectorAll('table.scores tbody tr:first-child td.method'))"
                 ".map(t => t.textContent)")
        values = ("Array.from(document.querySelectorAll('table.scores tbody tr:first-child'))"
                  ".map(r => r.cells[1].dataset.v === undefined ? null : parseFloat(r.cells[1].dataset.v))")
        browser.evaluate("document.querySelector('th[data-col=\"0\"]').click()")  # NIQE on DICM: lower first
        first = browser.evaluate(values)
        measured = [v for v in first if v is not None]
        assert measured == sorted(measured) and first[:len(measured)] == measured  # empty cells last
        browser.evaluate("document.querySelector('th[data-col=\"0\"]').click()")  # again: reversed
        second = [v for v in browser.evaluate(values) if v is not None]
        assert second == sorted(measured, reverse=True)
        browser.evaluate("document.querySelector('th[data-col=\"-1\"]').click()")  # by name
        names = browser.evaluate(order)
        assert names == sorted(names, key=str.lower)

        # the run covers 2 of DICM's 64 images: every measured DICM cell says so, and its hover text
        # gives the mean's 95% bootstrap interval
        dicm_cells = browser.evaluate("Array.from(document.querySelectorAll('table.scores tbody tr:not(.ref) "
                                      "td:nth-child(2)')).filter(td => td.dataset.v !== undefined)"
                                      ".map(td => [td.textContent, td.title])")  # measured rows, not the paper's
        assert dicm_cells and all("(2/64)" in text for text, _ in dicm_cells), dicm_cells
        assert all("95% CI [" in title and "2 of 64 images" in title for _, title in dicm_cells), dicm_cells

        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        png = base64.b64decode(shot["data"])
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        (tmp_path / f"{page}.png").write_bytes(png)

        errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"
                  or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "warning"))
                  or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning"))]
        assert not errors, json.dumps(errors, indent=1)[:2000]
        requests = [e["params"]["request"]["url"] for e in browser.events
                    if e.get("method") == "Network.requestWillBeSent"]
        assert requests and all(url.startswith(("file://", "data:")) for url in requests), requests
    finally:
        browser.close()
