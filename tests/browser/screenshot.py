"""A screenshot of a trace waterfall page, for the docs and for eyeballing the UI.

    python -m tests.browser.screenshot docs/img/trace.png
    python -m tests.browser.screenshot OUT.png --url http://127.0.0.1:8050
    python -m tests.browser.screenshot OUT.png --url http://127.0.0.1:8050/trace/<id>

Without --url it serves the UI on a free port over two sample traces and shows
the failed one. With a UI's base URL it shows the most recent trace of the last
24 hours; with a trace page's URL, that trace. In both cases it clicks the first
failed span (or the root) so the details panel is filled, and saves 1400x900 px.
Exits non-zero, without a screenshot, if the page logs JavaScript errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.chromium import CHROMIUM, launch_chromium
from tests.browser.waterfall_page import (
    DETAILS,
    WATERFALL,
    bar_labels,
    click_bar,
    wait_for_waterfall,
)
from ui import create_app, serve_ui
from ui.testing import InMemoryTraceReader, sample_trace

__all__ = ["main"]

WIDTH, HEIGHT = 1400, 900
SAMPLE_FAILED_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLE_OK_ID = "0af7651916cd43dd8448eb211c80319c"
_TIMEOUT_MS = 15_000


def _trace_page_url(url: str) -> str:
    """`url` if it is a trace page, else the page of the most recent trace at that UI."""
    base = url.rstrip("/")
    if "/trace/" in urlsplit(base).path:
        return base
    with urllib.request.urlopen(f"{base}/api/traces?time_range=24h&limit=1", timeout=10) as r:
        traces = json.loads(r.read())["traces"]
    if not traces:
        raise SystemExit(f"no traces in the last 24 hours at {base}: give a /trace/<id> URL")
    return f"{base}/trace/{traces[0]['trace_id']}"


def _capture(page: Page, url: str, out: str) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{e.name}: {e.message}"))
    page.goto(url)
    # A trace page shows either its waterfall or why not (unknown trace, storage error).
    page.locator(f"{WATERFALL} g.point path, #page-content [role=alert]").first.wait_for()
    alert = page.locator("#page-content [role=alert]")
    if alert.count():
        raise SystemExit(f"no waterfall at {url}: {alert.inner_text()}")
    wait_for_waterfall(page)
    labels = bar_labels(page)
    label = next((x for x in labels if x.startswith("⚠")), labels[0]).removeprefix("⚠ ")
    click_bar(page, label)
    expect(page.locator(f"{DETAILS} h3")).to_have_text(label)
    page.mouse.move(WIDTH - 1, HEIGHT - 1)  # off the chart: no hover label in the picture
    expect(page.locator(f"{WATERFALL} .hoverlayer .hovertext")).to_have_count(0)
    if not errors:
        page.screenshot(path=out)
    return errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.browser.screenshot",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the PNG file to write")
    parser.add_argument("--url", help="a running UI, or one of its /trace/<id> pages")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        parser.error(f"{CHROMIUM} is missing: install Debian's chromium")
    with ExitStack() as stack:
        if args.url:
            url = _trace_page_url(args.url)
        else:
            now = time.time_ns()
            reader = InMemoryTraceReader([
                *sample_trace(SAMPLE_OK_ID, now - 60_000_000_000),
                *sample_trace(SAMPLE_FAILED_ID, now - 30_000_000_000, failed=True),
            ])
            server = serve_ui(create_app(reader), "127.0.0.1", 0)
            server.start()
            stack.callback(server.stop)
            url = f"{server.url}/trace/{SAMPLE_FAILED_ID}"
        playwright = stack.enter_context(sync_playwright())
        browser = launch_chromium(playwright)
        stack.callback(browser.close)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.set_default_timeout(_TIMEOUT_MS)
        expect.set_options(timeout=_TIMEOUT_MS)
        errors = _capture(page, url, args.out)
    if errors:
        print(f"not saved: the page at {url} logged errors:", *errors, sep="\n  ", file=sys.stderr)
        return 1
    print(f"saved {args.out}: {url} at {WIDTH}x{HEIGHT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
