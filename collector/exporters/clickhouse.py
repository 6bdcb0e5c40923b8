"""ClickHouseExporter: pushes export batches (spans, RED rows, edges, metric points,
logs) into MeshLens storage.

`Store` is synchronous (clickhouse-connect, chdb), so writes run in a worker
thread to keep the event loop serving receivers meanwhile. The inserts
share the batch's deduplication token: a retry after a partial failure writes
only what is missing.

With `otlp_passthrough` (the default), trace requests are written as received
and ClickHouse decodes them (`ExportBatch.otlp`, see
collector/translate/otlp_passthrough.py). Requests ClickHouse cannot read are
decoded in Python and written as columns instead, so that no batch is retried
forever; the rows are the same either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from collector.pipeline import ExportBatch
from collector.self_tracing import suppress_self_tracing
from collector.translate import decode_protobuf
from storage.logs_model import LogColumns
from storage.metrics_model import MetricColumns
from storage.model import SpanColumns
from storage.otlp_traces_writer import OtlpRequestsRejected
from storage.span_metrics_model import EdgeColumns, RedColumns

log = logging.getLogger(__name__)


class SpanWriter(Protocol):
    """The part of `storage.Store` this exporter needs."""

    def write_spans(self, batch: SpanColumns, *, dedup_token: str | None = None) -> None: ...

    def write_otlp_traces(
        self, payloads: Sequence[bytes], *, dedup_token: str | None = None
    ) -> None: ...

    def write_red(self, rows: RedColumns, *, dedup_token: str | None = None) -> None: ...

    def write_edges(self, rows: EdgeColumns, *, dedup_token: str | None = None) -> None: ...

    def write_metrics(self, batch: MetricColumns, *, dedup_token: str | None = None) -> None: ...

    def write_logs(self, batch: LogColumns, *, dedup_token: str | None = None) -> None: ...


class ClickHouseExporter:
    def __init__(self, store: SpanWriter, *, otlp_passthrough: bool = True) -> None:
        self._store = store
        # Read by the Collector: whether receivers may hand trace requests on undecoded.
        self.otlp_passthrough = otlp_passthrough
        self.otlp_fallbacks = 0  # batches of requests ClickHouse refused, written from Python

    @property
    def store(self) -> SpanWriter:
        """Where batches go; the Collector writes its self-metrics there too, directly."""
        return self._store

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
        if batch.otlp:
            self._write_otlp(batch.otlp, f"{batch.token}-otlp")
        if len(batch.red):
            self._store.write_red(batch.red, dedup_token=batch.token)
        if len(batch.edges):
            self._store.write_edges(batch.edges, dedup_token=batch.token)
        if len(batch.metrics):
            self._store.write_metrics(batch.metrics, dedup_token=batch.token)
        if len(batch.logs):
            self._store.write_logs(batch.logs, dedup_token=batch.token)

    def _write_otlp(self, payloads: list[bytes], token: str) -> None:
        try:
            self._store.write_otlp_traces(payloads, dedup_token=token)
        except OtlpRequestsRejected as exc:
            self.otlp_fallbacks += 1
            # Once as a warning: a server too old for the settings used refuses every batch.
            log.log(
                logging.WARNING if self.otlp_fallbacks == 1 else logging.DEBUG,
                "decoding %d OTLP requests in Python instead (%d times so far): %s",
                len(payloads), self.otlp_fallbacks, exc,
            )  # fmt: skip
            spans = SpanColumns()
            for payload in payloads:
                spans.extend(decode_protobuf(payload))
            self._store.write_spans(spans, dedup_token=token)
