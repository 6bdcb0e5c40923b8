"""The read side of storage the UI needs, and nothing more.

The UI is written against this protocol, not against `storage.Store`, so that it
runs over the real store in `meshlens up`, over a remote store in `meshlens ui`,
and over `ui.testing.InMemoryTraceReader` in tests. Implementations are called
from the web server's worker threads and must be thread-safe.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from storage.model import SpanRecord, TraceSearchQuery, TraceSummary


@runtime_checkable
class TraceReader(Protocol):
    def search_traces(self, q: TraceSearchQuery) -> list[TraceSummary]:
        """Traces matching `q`, most recent first, at most `q.limit` of them."""
        ...

    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        """Every span of one trace, in any order; empty when the trace is unknown."""
        ...

    def services(self) -> list[str]:
        """Names of the services that reported spans."""
        ...

    def operations(self, service: str | None = None) -> list[str]:
        """Span names, of one service or of all of them."""
        ...
