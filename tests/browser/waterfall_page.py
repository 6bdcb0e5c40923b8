"""Reading and clicking the trace page's waterfall, for the tests and `screenshot.py`."""

from __future__ import annotations

from playwright.sync_api import Page, expect

__all__ = ["DETAILS", "WATERFALL", "bar_labels", "click_bar", "wait_for_waterfall"]

WATERFALL = "#trace-waterfall"
DETAILS = "#trace-span-details"

_BARS = f"{WATERFALL} g.point path"
_LABELS = f"{WATERFALL} g.ytick text"


def wait_for_waterfall(page: Page) -> None:
    """Until plotly has drawn the bars and their labels."""
    expect(page.locator(_BARS).first).to_be_visible()
    expect(page.locator(_LABELS).first).to_be_visible()


def bar_labels(page: Page) -> list[str]:
    """The y-axis labels top to bottom, without the indentation."""
    return [text.replace("\u00a0", " ").strip()
            for text in page.locator(_LABELS).all_text_contents()]


def click_bar(page: Page, label: str) -> None:
    """Click the bar in the row labelled `label`, where a user would.

    Plotly takes clicks on a drag layer above the bars, so this clicks the
    bar's position with the mouse rather than its DOM element.
    """
    tick = page.locator(_LABELS).filter(has_text=label).first  # names may repeat
    expect(tick).to_be_visible()
    tick_box = tick.bounding_box()
    assert tick_box is not None, f"no y-axis label {label!r}"
    row_y = tick_box["y"] + tick_box["height"] / 2
    for bar in page.locator(_BARS).all():
        box = bar.bounding_box()
        if box is not None and box["y"] <= row_y <= box["y"] + box["height"]:
            page.mouse.click(box["x"] + box["width"] / 2, row_y)
            return
    raise AssertionError(f"no bar in the row of {label!r}")
