"""Stable colors: a service has the same color on every page and in every process.

The color comes from a CRC of the name, not from `hash()` (salted per process)
and not from the service's position in a trace (which changes between traces).
Red is kept out of the palette: it means "error" everywhere in the UI.
"""

from __future__ import annotations

import zlib

__all__ = ["ERROR_COLOR", "OK_COLOR", "SERVICE_PALETTE", "service_color"]

ERROR_COLOR = "#c62828"
OK_COLOR = "#1f6fb2"

# Medium-saturation colors that stay readable next to dark text on white.
SERVICE_PALETTE: tuple[str, ...] = (
    "#4e79a7",  # blue
    "#f28e2b",  # orange
    "#59a14f",  # green
    "#b07aa1",  # purple
    "#76b7b2",  # teal
    "#edc948",  # yellow
    "#9c755f",  # brown
    "#ff9da7",  # pink
    "#8cd17d",  # light green
    "#499894",  # dark teal
    "#d4a6c8",  # lilac
    "#86bcb6",  # sea green
    "#f1ce63",  # sand
    "#a0cbe8",  # light blue
    "#ffbe7d",  # apricot
    "#bab0ac",  # grey
)


def service_color(service: str) -> str:
    """The palette color of `service`; the same for the same name, always."""
    return SERVICE_PALETTE[zlib.crc32(service.encode("utf-8")) % len(SERVICE_PALETTE)]
