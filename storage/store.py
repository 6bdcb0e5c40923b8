"""The Store: one client, one lock, every read and write the other components need."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from clickhouse_connect.driver.client import Client

from storage import migrations, span_metrics_writer, writer
from storage.connection import connect
from storage.model import SpanColumns, SpanRecord, TraceSearchQuery, TraceSummary
from storage.queries import catalog, red, service_edges, trace_by_id, trace_search
from storage.queries.red import RedQuery
from storage.schema import ttl_clause
from storage.span_metrics_model import EdgeColumns, EdgeSummary, RedColumns, RedSummary
from storage.url import DEFAULT_URL, parse_storage_url, redact_url

T = TypeVar("T")


class StoreClosedError(RuntimeError):
    """The store was used after close()."""


class Store:
    """Synchronous and thread-safe; from asyncio, call it through asyncio.to_thread.

    clickhouse-connect clients are not safe for concurrent use (chdb's handle
    least of all), so one lock serializes every call on the client.
    """

    def __init__(
        self, client: Client, *, url: str, database: str, ttl_days: int | None = None
    ) -> None:
        if ttl_days is not None:
            ttl_clause("Timestamp", ttl_days)  # validates before anything is created
        self.url = url
        self.database = database
        self.ttl_days = ttl_days
        self._client: Client | None = client
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store(url={redact_url(self.url)!r}, database={self.database!r})"

    def _run(self, call: Callable[[Client], T]) -> T:
        with self._lock:
            if self._client is None:
                raise StoreClosedError(f"{self!r} is closed")
            return call(self._client)

    def migrate(self) -> list[int]:
        """Apply pending migrations; the versions applied by this call."""
        return self._run(lambda c: migrations.migrate(c, self.database, self.ttl_days))

    def migration_status(self) -> list[tuple[int, str, bool]]:
        return self._run(lambda c: migrations.migration_status(c, self.database))

    def write_spans(self, batch: SpanColumns, *, dedup_token: str | None = None) -> None:
        """One column-oriented insert into otel_traces; an empty batch writes nothing.

        Written again with the same `dedup_token`, the batch is stored once.
        """
        self._run(lambda c: writer.insert_spans(c, self.database, batch, dedup_token))

    def write_red(self, rows: RedColumns, *, dedup_token: str | None = None) -> None:
        """Partial RED aggregates into red_1m (idempotent per `dedup_token`)."""
        self._run(lambda c: span_metrics_writer.insert_red(c, self.database, rows, dedup_token))

    def write_edges(self, rows: EdgeColumns, *, dedup_token: str | None = None) -> None:
        """Partial service graph aggregates into service_edges_1m (idempotent per token)."""
        self._run(
            lambda c: span_metrics_writer.insert_edges(c, self.database, rows, dedup_token)
        )

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
        return self._run(lambda c: trace_by_id.fetch_trace(c, self.database, trace_id))

    def search_traces(self, q: TraceSearchQuery) -> list[TraceSummary]:
        """Traces with a span matching every filter of `q`, newest first."""
        trace_search.validate_query(q)  # outside the lock: a bad query needs no client
        return self._run(lambda c: trace_search.search_traces(c, self.database, q))

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


def open_store(url: str | None = None, *, ttl_days: int | None = None) -> Store:
    """Open the store at `url` (default chdb://./.meshlens/data) and migrate its schema.

    Raises StorageURLError for a URL of no accepted form, before touching disk or network.
    """
    url = DEFAULT_URL if url is None else url
    target = parse_storage_url(url)
    if ttl_days is not None:
        ttl_clause("Timestamp", ttl_days)
    store = Store(connect(target), url=url, database=target.database, ttl_days=ttl_days)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
