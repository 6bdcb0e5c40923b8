"""The search page in Chromium: results rendered by Dash callbacks, the service filter."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.known_traces import ALL_IDS, CART_ID, FAILED_ID
from ui import UIServer
from ui.formatting import short_id

pytestmark = pytest.mark.browser


def expect_results(page: Page, trace_ids: tuple[str, ...]) -> None:
    """The results table lists exactly `trace_ids`, in this order (waits for callbacks)."""
    links = page.locator("#search-results table.results a.trace-link")
    expect(links).to_have_text([short_id(i) for i in trace_ids])
    # Short ids could collide; the full id is the link's title and its target.
    assert [links.nth(n).get_attribute("title") for n in range(len(trace_ids))] == list(trace_ids)
    noun = "trace" if len(trace_ids) == 1 else "traces"
    expect(page.locator("#search-message")).to_have_text(
        f"{len(trace_ids)} {noun}, most recent first.")


def choose_service(page: Page, service: str) -> None:
    page.locator("#search-service").click()
    page.get_by_role("option", name=service, exact=True).click()
    expect(page.locator("#search-service-value")).to_have_text(service)


def test_search_page_lists_the_traces_and_filters_them_by_service(
    page: Page, ui_server: UIServer
) -> None:
    page.goto(ui_server.url + "/")
    expect(page).to_have_title("Traces · MeshLens")
    expect_results(page, ALL_IDS)
    expect(page.locator("#search-results tr.error-row a.trace-link")).to_have_text(
        [short_id(FAILED_ID)])

    choose_service(page, "payments")
    expect_results(page, (FAILED_ID,))

    choose_service(page, "checkout")
    expect_results(page, (FAILED_ID, CART_ID))

    choose_service(page, "frontend")
    expect_results(page, ALL_IDS)


def test_custom_time_range_fields_show_only_for_a_custom_range(
    page: Page, ui_server: UIServer
) -> None:
    page.goto(ui_server.url + "/")
    expect_results(page, ALL_IDS)
    custom_start = page.locator("#search-custom-start")
    expect(custom_start).to_be_hidden()

    page.locator("#search-time-range").click()
    page.get_by_role("option", name="Custom (UTC)", exact=True).click()
    expect(custom_start).to_be_visible()
    expect(page.locator("#search-custom-end")).to_be_visible()

    page.locator("#search-time-range").click()
    page.get_by_role("option", name="Last hour", exact=True).click()
    expect(custom_start).to_be_hidden()
