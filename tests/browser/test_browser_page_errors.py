"""The `page` fixture's error collection works, so its "no errors" check means something."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from ui import UIServer

pytestmark = pytest.mark.browser


def test_console_errors_uncaught_exceptions_and_foreign_requests_are_collected(
    page: Page, ui_server: UIServer, js_errors: list[str]
) -> None:
    page.goto(ui_server.url + "/")
    with page.expect_console_message(lambda message: message.type == "error"):
        page.evaluate("console.error('logged on purpose')")
    with page.expect_event("pageerror"):
        page.evaluate("setTimeout(() => { throw new Error('thrown on purpose'); })")
    # 127.0.0.2 is not the UI's host, and nothing listens there: refused at once.
    with page.expect_request("http://127.0.0.2:59999/**"):
        page.evaluate("fetch('http://127.0.0.2:59999/elsewhere').catch(() => {})")

    collected = "\n".join(js_errors)
    assert "console error: logged on purpose" in collected
    assert "uncaught Error: thrown on purpose" in collected
    assert "request off the UI's host: GET http://127.0.0.2:59999/elsewhere" in collected
    js_errors.clear()  # they were on purpose: let the fixture's teardown check pass
