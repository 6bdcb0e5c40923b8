"""Which page a path shows. Shared by the Dash router and the server-side index."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOCATION", "NotFoundPage", "Route", "SearchPage", "TracePage", "route_for"]

# The dcc.Location every page navigates through.
LOCATION = "url"

_TRACE_PREFIX = "/trace/"


@dataclass(frozen=True, slots=True)
class SearchPage:
    pass


@dataclass(frozen=True, slots=True)
class TracePage:
    trace_id: str


@dataclass(frozen=True, slots=True)
class NotFoundPage:
    path: str


Route = SearchPage | TracePage | NotFoundPage


def route_for(path: str | None) -> Route:
    """The page for a decoded URL path (no query string)."""
    if not path or path == "/":
        return SearchPage()
    if path.startswith(_TRACE_PREFIX):
        # Ids are lowercase hex in storage; a pasted upper-case id still finds its trace.
        trace_id = path[len(_TRACE_PREFIX):].strip("/").strip().lower()
        if trace_id and "/" not in trace_id:
            return TracePage(trace_id)
    return NotFoundPage(path)
