"""The trace page in Chromium: reached from a search result, its waterfall, span details."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.known_traces import FAILED_ID, FAILED_WATERFALL_LABELS
from tests.browser.waterfall_page import DETAILS, WATERFALL, click_bar
from ui import UIServer
from ui.formatting import short_id

pytestmark = pytest.mark.browser


def attributes_under(page: Page, heading: str) -> dict[str, str]:
    """The key/value table that follows the details panel's `heading`."""
    rows = page.locator(f"{DETAILS} h4:text-is('{heading}') + table.attributes tr")
    return {
        row.locator("th").inner_text(): row.locator("td").inner_text() for row in rows.all()
    }


def test_a_result_opens_its_trace_whose_bars_show_span_details_on_click(
    page: Page, ui_server: UIServer
) -> None:
    page.goto(ui_server.url + "/")
    page.locator("#search-results a.trace-link", has_text=short_id(FAILED_ID)).click()

    expect(page).to_have_url(f"{ui_server.url}/trace/{FAILED_ID}")
    expect(page).to_have_title(f"Trace {short_id(FAILED_ID)} · MeshLens")
    expect(page.locator(".trace-header code.trace-id")).to_have_text(FAILED_ID)
    # One bar per span, labelled on the y-axis in tree order.
    expect(page.locator(f"{WATERFALL} g.point path")).to_have_count(len(FAILED_WATERFALL_LABELS))
    expect(page.locator(f"{WATERFALL} g.ytick text")).to_have_text(list(FAILED_WATERFALL_LABELS))
    expect(page.locator(DETAILS)).to_have_text("Click a span in the waterfall to see its details.")
    waterfall_box = page.locator(WATERFALL).bounding_box()

    click_bar(page, "payments: POST /charge")
    expect(page.locator(f"{DETAILS} h3")).to_have_text("payments: POST /charge")
    # The details panel is taller than the chart; the chart must keep its size
    # (a stretched chart re-lays out its bars under the user's pointer).
    assert page.locator(WATERFALL).bounding_box() == waterfall_box
    expect(page.locator(f"{DETAILS} .status-error")).to_have_text(
        "Error: card processor unavailable")
    assert attributes_under(page, "Span attributes") == {
        "http.route": "/charge", "http.response.status_code": "503"}
    assert attributes_under(page, "Resource attributes") == {
        "service.name": "payments", "service.version": "v1"}
    expect(page.locator(f"{DETAILS} .events")).to_contain_text(re.compile(r"retry.*attempt"))

    click_bar(page, "checkout: SELECT orders")
    expect(page.locator(f"{DETAILS} h3")).to_have_text("checkout: SELECT orders")
    assert attributes_under(page, "Span attributes") == {"db.system": "clickhouse"}


def test_an_unknown_trace_id_says_not_found(page: Page, ui_server: UIServer) -> None:
    unknown = "f" * 32
    page.goto(f"{ui_server.url}/trace/{unknown}")
    expect(page.get_by_role("alert")).to_contain_text(f"Trace {unknown} not found")
    expect(page.get_by_role("link", name="← Back to trace search")).to_be_visible()
    expect(page.locator(WATERFALL)).to_have_count(0)
