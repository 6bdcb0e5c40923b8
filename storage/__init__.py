"""MeshLens storage: ClickHouse (in-process chdb or a server) behind one Store.

`open_store(url)` parses the URL, connects, and migrates the schema; the Store
then writes span batches and answers trace queries. Everything else here is
internal.
"""

from storage.model import (
    SPAN_COLUMN_NAMES,
    SPAN_KINDS,
    STATUS_CODES,
    SpanColumns,
    SpanEvent,
    SpanLink,
    SpanRecord,
    SpanStatus,
    TraceSearchQuery,
    TraceSummary,
)
from storage.queries.red import RedQuery
from storage.span_metrics_model import EdgeColumns, EdgeSummary, RedColumns, RedSummary
from storage.store import Store, StoreClosedError, open_store
from storage.url import DEFAULT_URL, StorageURLError

__all__ = [
    "DEFAULT_URL",
    "SPAN_COLUMN_NAMES",
    "SPAN_KINDS",
    "STATUS_CODES",
    "EdgeColumns",
    "EdgeSummary",
    "RedColumns",
    "RedQuery",
    "RedSummary",
    "SpanColumns",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "SpanStatus",
    "StorageURLError",
    "Store",
    "StoreClosedError",
    "TraceSearchQuery",
    "TraceSummary",
    "open_store",
]
