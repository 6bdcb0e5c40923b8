"""ClickHouseExporter: pushes export batches (spans, RED rows, edges) into MeshLens storage.

`Store` is synchronous (clickhouse-connect, chdb), so writes run in a worker
thread to keep the event loop serving receivers meanwhile. The three inserts
share the batch's deduplication token: a retry after a partial failure writes
only what is missing.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from collector.pipeline import ExportBatch
from collector.self_tracing import suppress_self_tracing
from storage.model import SpanColumns
from storage.span_metrics_model import EdgeColumns, RedColumns


class SpanWriter(Protocol):
    """The part of `storage.Store` this exporter needs."""

    def write_spans(self, batch: SpanColumns, *, dedup_token: str | None = None) -> None: ...

    def write_red(self, rows: RedColumns, *, dedup_token: str | None = None) -> None: ...

    def write_edges(self, rows: EdgeColumns, *, dedup_token: str | None = None) -> None: ...


class ClickHouseExporter:
    def __init__(self, store: SpanWriter) -> None:
        self._store = store

    async def push(self, batch: ExportBatch) -> None:
        if batch.empty:
            return
        # to_thread copies the context, so the storage client in the worker thread
        # sees the suppression too.
        with suppress_self_tracing():
            await asyncio.to_thread(self._write, batch)

    def _write(self, batch: ExportBatch) -> None:
        if len(batch.spans):
            self._store.write_spans(batch.spans, dedup_token=batch.token)
        if len(batch.red):
            self._store.write_red(batch.red, dedup_token=batch.token)
        if len(batch.edges):
            self._store.write_edges(batch.edges, dedup_token=batch.token)
