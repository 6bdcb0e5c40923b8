"""MeshLens storage: ClickHouse (in-process chdb or a server) behind one Store.

`open_store(url)` parses the URL, connects, and migrates the schema; the Store
then writes span batches and answers the questions the UI, alerts and canaries
ask. Everything else here is internal.
"""

from storage.logs_model import LogColumns, LogRecord
from storage.metrics_model import MetricColumns
from storage.model import (
    SPAN_COLUMN_NAMES,
    SPAN_KINDS,
    STATUS_CODES,
    SearchOrder,
    SpanColumns,
    SpanEvent,
    SpanLink,
    SpanRecord,
    SpanStatus,
    TraceSearchQuery,
    TraceSummary,
)
from storage.queries.attribute_catalog import AttributeFilter, AttributeSuggestion
from storage.queries.audit import AuditQuery, AuditRecord
from storage.queries.log_records import LogQuery
from storage.queries.metric_points import MetricPoint, MetricPointsQuery, MetricType
from storage.queries.red import RedQuery
from storage.queries.red_series import RedPoint, RedSeriesQuery
from storage.queries.service_map import ServiceMap, ServiceMapEdge, ServiceMapNode
from storage.queries.slowest_traces import SlowTrace
from storage.queries.trace_comparison import AlignedSpan, TraceComparison
from storage.queries.version_samples import RequestSample, VersionSamples, VersionSamplesQuery
from storage.retention import RetentionConfig
from storage.span_metrics_model import EdgeColumns, EdgeSummary, RedColumns, RedSummary
from storage.store import Store, StoreClosedError, open_store
from storage.url import DEFAULT_URL, StorageURLError

__all__ = [
    "DEFAULT_URL",
    "SPAN_COLUMN_NAMES",
    "SPAN_KINDS",
    "STATUS_CODES",
    "AlignedSpan",
    "AttributeFilter",
    "AttributeSuggestion",
    "AuditQuery",
    "AuditRecord",
    "EdgeColumns",
    "EdgeSummary",
    "LogColumns",
    "LogQuery",
    "LogRecord",
    "MetricColumns",
    "MetricPoint",
    "MetricPointsQuery",
    "MetricType",
    "RedColumns",
    "RedPoint",
    "RedQuery",
    "RedSeriesQuery",
    "RedSummary",
    "RequestSample",
    "RetentionConfig",
    "SearchOrder",
    "ServiceMap",
    "ServiceMapEdge",
    "ServiceMapNode",
    "SlowTrace",
    "SpanColumns",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "SpanStatus",
    "StorageURLError",
    "Store",
    "StoreClosedError",
    "TraceComparison",
    "TraceSearchQuery",
    "TraceSummary",
    "VersionSamples",
    "VersionSamplesQuery",
    "open_store",
]
