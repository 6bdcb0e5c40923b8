"""Fixtures of the browser tier: one Chromium for the tier, a fresh page per test.

Every page records JavaScript errors (console errors and uncaught exceptions) and
requests that leave the UI's host; a test fails at teardown if there were any.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Request,
    expect,
    sync_playwright,
)

from tests.browser.chromium import CHROMIUM, launch_chromium
from tests.browser.known_traces import NOW_NS, known_trace_reader
from ui import UIServer, create_app, serve_ui

# Dash callbacks answer in milliseconds here; a stuck one should fail fast, not in 30 s.
TIMEOUT_MS = 10_000


# Package scope, not session scope: between calls, Playwright's sync API leaves its
# private event loop marked as this thread's running loop, so while it is open
# pytest-asyncio cannot run any async test ("Cannot run the event loop while another
# loop is running"). A session-scoped browser would stay open through the async
# tiers that run after this one in `make test`; this closes it when pytest leaves
# tests/browser. All browser tests live in this package: Chromium still starts once.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
                    "(`make system-deps` installs it)")
    expect.set_options(timeout=TIMEOUT_MS)
    playwright = sync_playwright().start()
    try:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="package")
def ui_server() -> Iterator[UIServer]:
    server = serve_ui(create_app(known_trace_reader(), clock=lambda: NOW_NS), "127.0.0.1", 0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def js_errors() -> list[str]:
    """What went wrong in the page: filled by the `page` fixture's listeners."""
    return []


@pytest.fixture
def page(browser: Browser, ui_server: UIServer, js_errors: list[str]) -> Iterator[Page]:
    """A page in a fresh context (no cookies, storage or cache shared between tests)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                js_errors.append(f"console error: {message.text} ({message.location})")

        def on_request(request: Request) -> None:
            if not request.url.startswith(ui_server.url + "/"):
                js_errors.append(f"request off the UI's host: {request.method} {request.url}")

        def on_page_error(error: Error) -> None:
            js_errors.append(f"uncaught {error.name}: {error.message}")

        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        page.on("request", on_request)
        yield page
    finally:
        context.close()
    assert js_errors == [], "the page reported errors"
