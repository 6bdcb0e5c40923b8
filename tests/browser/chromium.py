"""Debian's Chromium under Playwright, launched so that it never reaches the network.

Shared by the browser tests (`conftest.py`) and `screenshot.py`. Nothing is
downloaded: Playwright drives /usr/bin/chromium (`make test` installs it), never a
browser of its own, so `playwright install` is never needed.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Playwright

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "launch_chromium"]

CHROMIUM = Path("/usr/bin/chromium")

# The machine has no network: without the background-networking switches Chromium
# keeps trying (and failing) to reach Google's services. We run as root, hence
# --no-sandbox. Playwright passes a fresh temporary --user-data-dir itself and
# removes it on close (it refuses one in `args`).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Chromium from /usr/bin; the caller closes it."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=list(CHROMIUM_ARGS),
        # The default of 180 s would hide a Chromium that hangs at start.
        timeout=30_000,
    )
