"""The Store: one client, one lock, every read and write the other components need."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from clickhouse_connect.driver.client import Client

from storage import (
    migrations,
    otlp_traces_writer,
    resort,
    span_metrics_writer,
    telemetry_writer,
    writer,
)
from storage.cluster import LOCAL_SUFFIX, check_cluster_name
from storage.connection import connect
from storage.logs_model import LogColumns, LogRecord
from storage.metrics_model import MetricColumns
from storage.model import SpanColumns, SpanRecord, TraceSearchQuery, TraceSummary
from storage.queries import (
    attribute_catalog,
    audit,
    catalog,
    log_records,
    metric_points,
    red,
    red_series,
    service_edges,
    service_map,
    slowest_traces,
    trace_by_id,
    trace_comparison,
    trace_search,
    version_samples,
)
from storage.queries.attribute_catalog import AttributeFilter, AttributeSuggestion
from storage.queries.audit import AuditQuery, AuditRecord
from storage.queries.log_records import LogQuery
from storage.queries.metric_points import MetricPoint, MetricPointsQuery
from storage.queries.red import RedQuery
from storage.queries.red_series import RedPoint, RedSeriesQuery
from storage.queries.service_map import ServiceMap
from storage.queries.slowest_traces import SlowTrace
from storage.queries.trace_comparison import TraceComparison
from storage.queries.version_samples import VersionSamples, VersionSamplesQuery
from storage.retention import RetentionConfig, retention_sql
from storage.schema import ttl_clause
from storage.span_metrics_model import EdgeColumns, EdgeSummary, RedColumns, RedSummary
from storage.url import DEFAULT_URL, ChdbTarget, parse_storage_url, redact_url

T = TypeVar("T")

DAYS_CHECK_S = 60.0


class StoreClosedError(RuntimeError):
    """The store was used after close()."""


class Store:
    """Synchronous and thread-safe; from asyncio, call it through asyncio.to_thread.

    clickhouse-connect clients are not safe for concurrent use (chdb's handle
    least of all), so one lock serializes every call on the client.
    """

    def __init__(
        self,
        client: Client,
        *,
        url: str,
        database: str,
        ttl_days: int | None = None,
        ttl: RetentionConfig | None = None,
        cluster: str | None = None,
    ) -> None:
        self.url = url
        self.database = database
        self.ttl = _retention(ttl_days, ttl)
        self.cluster = None if cluster is None else check_cluster_name(cluster)
        self._client: Client | None = client
        self._lock = threading.Lock()
        # Whether otel_traces is sorted by trace, read from the table once it exists,
        # and how many days it holds, read again every DAYS_CHECK_S (trace_by_id).
        self._by_trace: bool | None = None
        self._days: tuple[float, int] = (-DAYS_CHECK_S, 0)

    def __repr__(self) -> str:
        return f"Store(url={redact_url(self.url)!r}, database={self.database!r})"

    def _run(self, call: Callable[[Client], T]) -> T:
        with self._lock:
            if self._client is None:
                raise StoreClosedError(f"{self!r} is closed")
            return call(self._client)

    def migrate(self) -> list[int]:
        """Apply pending migrations; the versions applied by this call."""
        return self._run(
            lambda c: migrations.migrate(c, self.database, self.ttl, cluster=self.cluster)
        )

    def apply_retention(self, ttl: RetentionConfig) -> list[str]:
        """Set the TTL of existing tables to `ttl` (classes left None untouched); the SQL run.

        ClickHouse then recomputes expiry for existing parts and drops whole expired ones.
        """
        suffix = LOCAL_SUFFIX if self.cluster else ""
        statements = retention_sql(self.database, ttl, self.cluster, local_suffix=suffix)

        def run(c: Client) -> list[str]:
            for sql in statements:
                c.command(sql)
            return statements

        return self._run(run)

    def bootstrap(self) -> None:
        """Create the database and the migrations table if missing; nothing else."""

        def run(c: Client) -> None:
            for sql in migrations.bootstrap_sql(self.database, self.cluster):
                c.command(sql)

        self._run(run)

    def migration_status(self) -> list[tuple[int, str, bool]]:
        return self._run(lambda c: migrations.migration_status(c, self.database))

    def write_spans(self, batch: SpanColumns, *, dedup_token: str | None = None) -> None:
        """One column-oriented insert into otel_traces; an empty batch writes nothing.

        Written again with the same `dedup_token`, the batch is stored once.
        """
        self._run(lambda c: writer.insert_spans(c, self.database, batch, dedup_token))

    def write_otlp_traces(
        self, payloads: Sequence[bytes], *, dedup_token: str | None = None
    ) -> None:
        """Every span of serialized OTLP `ExportTraceServiceRequest`s into otel_traces,
        decoded by ClickHouse (storage/otlp_traces_writer.py): the rows `write_spans`
        writes for the same spans decoded, stored once per `dedup_token`.

        Raises OtlpRequestsRejected when ClickHouse cannot read the requests.
        """
        local = isinstance(parse_storage_url(self.url), ChdbTarget)
        self._run(
            lambda c: otlp_traces_writer.insert_otlp_traces(
                c, self.database, payloads, dedup_token, local_files=local
            )
        )

    def write_red(self, rows: RedColumns, *, dedup_token: str | None = None) -> None:
        """Partial RED aggregates into red_1m (idempotent per `dedup_token`)."""
        self._run(lambda c: span_metrics_writer.insert_red(c, self.database, rows, dedup_token))

    def write_edges(self, rows: EdgeColumns, *, dedup_token: str | None = None) -> None:
        """Partial service graph aggregates into service_edges_1m (idempotent per token)."""
        self._run(lambda c: span_metrics_writer.insert_edges(c, self.database, rows, dedup_token))

    def write_metrics(self, batch: MetricColumns, *, dedup_token: str | None = None) -> None:
        """One column-oriented insert per otel_metrics_* table the batch has points for.

        Written again with the same `dedup_token`, the batch is stored once.
        """
        self._run(lambda c: telemetry_writer.insert_metrics(c, self.database, batch, dedup_token))

    def write_logs(self, batch: LogColumns, *, dedup_token: str | None = None) -> None:
        """One column-oriented insert into otel_logs (idempotent per `dedup_token`)."""
        self._run(lambda c: telemetry_writer.insert_logs(c, self.database, batch, dedup_token))

    def metric_points(self, q: MetricPointsQuery) -> list[MetricPoint]:
        """Data points of one metric, oldest first."""
        metric_points.validate(q)  # outside the lock: a bad query needs no client
        return self._run(lambda c: metric_points.fetch_points(c, self.database, q))

    def logs(self, q: LogQuery | None = None) -> list[LogRecord]:
        """Log records matching `q` (default: the newest 100), newest first."""
        q = q or LogQuery()
        log_records.validate(q)
        return self._run(lambda c: log_records.fetch_logs(c, self.database, q))

    def write_audit(self, rows: Sequence[AuditRecord], *, dedup_token: str | None = None) -> None:
        """Audit events into audit_log; no rows writes nothing."""
        self._run(lambda c: audit.insert_audit(c, self.database, rows, dedup_token))

    def audit_events(self, q: AuditQuery | None = None) -> list[AuditRecord]:
        """The audit events matching `q` (default: the newest 100), newest first."""
        q = q or AuditQuery()
        audit.validate(q)  # outside the lock: a bad query needs no client
        return self._run(lambda c: audit.fetch_audit_events(c, self.database, q))

    def red_summary(self, q: RedQuery) -> RedSummary:
        """RED of the red_1m rows matching `q`, merged."""
        return self._run(lambda c: red.fetch_red(c, self.database, q))

    def service_edges(
        self, start_s: int, end_s: int, services: tuple[str, ...] | None = None
    ) -> list[EdgeSummary]:
        """Service graph edges in [start_s, end_s), merged per (client, server, type)."""
        return self._run(
            lambda c: service_edges.fetch_edges(c, self.database, start_s, end_s, services)
        )

    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        """Every span of the trace, earliest first; [] for an unknown id."""

        def run(c: Client) -> list[SpanRecord]:
            if self._by_trace is None:
                self._by_trace = trace_by_id.sorted_by_trace(c, self.database)
            by_trace = self._by_trace is not False
            checked, days = self._days
            if by_trace and time.monotonic() - checked >= DAYS_CHECK_S:
                days = trace_by_id.daily_partitions(c, self.database)
                self._days = (time.monotonic(), days)
            return trace_by_id.fetch_trace(
                c, self.database, trace_id, by_trace=by_trace, days=days
            )

        return self._run(run)

    def resort_spans(self, say: Callable[[str], None] = lambda _: None) -> bool:
        """Re-sort an otel_traces created in the exporter's order (storage/resort.py);
        False if it is sorted by trace already. Run it with no writer."""
        done = self._run(lambda c: resort.resort_spans(c, self.database, say))
        self._by_trace = None
        return done

    def spans_sorted_by_trace(self) -> bool | None:
        """Whether otel_traces is sorted by (hour, TraceId), as created since 2026-11-26,
        rather than as the exporter sorts; None if it does not exist yet."""
        return self._run(lambda c: trace_by_id.sorted_by_trace(c, self.database))

    def search_traces(self, q: TraceSearchQuery) -> list[TraceSummary]:
        """Traces with a span matching every filter of `q`, newest first."""
        trace_search.validate_query(q)  # outside the lock: a bad query needs no client
        return self._run(lambda c: trace_search.search_traces(c, self.database, q))

    def attribute_keys(self, f: AttributeFilter | None = None) -> list[AttributeSuggestion]:
        """Span and resource attribute keys seen, most used first (autocompletion)."""
        f = f or AttributeFilter()
        return self._run(lambda c: attribute_catalog.fetch_attribute_keys(c, self.database, f))

    def attribute_values(
        self, key: str, f: AttributeFilter | None = None
    ) -> list[AttributeSuggestion]:
        """Values seen for `key`, most used first; values too long to suggest are left out."""
        f = f or AttributeFilter()
        return self._run(
            lambda c: attribute_catalog.fetch_attribute_values(c, self.database, key, f)
        )

    def red_series(self, q: RedSeriesQuery) -> list[RedPoint]:
        """RED per time bucket (and operation/version as grouped) with p50/p90/p99."""
        red_series.validate(q)
        return self._run(lambda c: red_series.fetch_red_series(c, self.database, q))

    def service_map(self, start_s: int, end_s: int) -> ServiceMap:
        """Services and the calls between them in [start_s, end_s)."""
        return self._run(lambda c: service_map.fetch_service_map(c, self.database, start_s, end_s))

    def version_samples(self, q: VersionSamplesQuery) -> VersionSamples:
        """Per-request latency and errors of two versions (server spans), newest first."""
        version_samples.validate(q)
        return self._run(lambda c: version_samples.fetch_version_samples(c, self.database, q))

    def slowest_traces(
        self,
        service: str,
        start_ns: int,
        end_ns: int,
        *,
        operation: str | None = None,
        per_operation: int = 5,
    ) -> list[SlowTrace]:
        """The slowest traces of each operation of `service` in [start_ns, end_ns)."""
        return self._run(
            lambda c: slowest_traces.fetch_slowest_traces(
                c, self.database, service, start_ns, end_ns, operation, per_operation
            )
        )

    def compare_traces(self, trace_a: str, trace_b: str) -> TraceComparison:
        """Two traces' span trees aligned by (service, operation) path."""
        spans_a = self.get_trace(trace_a)
        spans_b = self.get_trace(trace_b)
        return trace_comparison.compare_traces(trace_a, spans_a, trace_b, spans_b)

    def services(self) -> list[str]:
        return self._run(lambda c: catalog.fetch_services(c, self.database))

    def operations(self, service: str | None = None) -> list[str]:
        return self._run(lambda c: catalog.fetch_operations(c, self.database, service))

    def count_spans(self, service: str | None = None) -> int:
        """Spans stored, all or of one service."""
        sql = f"SELECT count() FROM `{self.database}`.otel_traces"
        params: dict[str, object] = {}
        if service is not None:
            sql += " WHERE ServiceName = {service:String}"
            params["service"] = service
        return self._run(lambda c: int(c.query(sql, parameters=params).result_rows[0][0]))

    def close(self) -> None:
        """Release the client; safe twice."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _retention(ttl_days: int | None, ttl: RetentionConfig | None) -> RetentionConfig:
    if ttl_days is not None and ttl is not None:
        raise ValueError("ttl_days and ttl: give one (ttl_days is every table's days)")
    if ttl is not None:
        return ttl
    if ttl_days is not None:
        ttl_clause("Timestamp", ttl_days)  # a message naming ttl_days, the argument given
    return RetentionConfig.uniform(ttl_days)  # validates before anything is created


def open_store(
    url: str | None = None,
    *,
    ttl_days: int | None = None,
    ttl: RetentionConfig | None = None,
    cluster: str | None = None,
) -> Store:
    """Open the store at `url` (default chdb://./.meshlens/data) and migrate its schema.

    `ttl` sets days per class of table for tables created now (`Store.apply_retention`
    changes existing ones); `ttl_days` is the same days for all. With `cluster`, the
    schema is created ON CLUSTER with Replicated and Distributed tables (a server URL).

    Raises StorageURLError for a URL of no accepted form, before touching disk or network.
    """
    url = DEFAULT_URL if url is None else url
    target = parse_storage_url(url)
    retention = _retention(ttl_days, ttl)
    if cluster is not None:
        check_cluster_name(cluster)
    store = Store(
        connect(target), url=url, database=target.database, ttl=retention, cluster=cluster
    )
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
