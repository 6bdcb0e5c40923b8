"""The stage between the batch processor and the exporters: spans in, spans plus RED
and service graph rows out, as one `ExportBatch` with its deduplication token.

It runs in the batch processor's single flush task, so pairing needs no lock
against itself; a tick task (every `tick_s`) settles pairs whose wait is over
when no spans arrive, and `stop()` settles everything still waiting.

Spans come decoded (`SpanColumns`) or as OTLP requests passed through to
ClickHouse (`PassthroughSpans`, with the facts read from them); either way the
service graph reads span facts, and the requests go on in `ExportBatch.otlp`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from collector.background import cancel_and_wait
from collector.pipeline import BatchExporter, ExportBatch
from collector.processors.servicegraph import ServiceGraphProcessor
from collector.processors.spanmetrics import SpanMetricsAggregator
from collector.self_tracing import suppress_self_tracing
from collector.translate.passthrough_batch import PassthroughSpans
from storage.model import SpanColumns

log = logging.getLogger(__name__)


class DerivedSignals:
    def __init__(
        self,
        exporter: BatchExporter,
        *,
        span_metrics: bool = True,
        service_graph: bool = True,
        pairing_wait_s: float = 5.0,
        pairing_max_entries: int = 200_000,
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._exporter = exporter
        self._red = SpanMetricsAggregator() if span_metrics else None
        self._graph = (
            ServiceGraphProcessor(
                self._red,
                clock=clock,
                wait_s=pairing_wait_s,
                max_entries=pairing_max_entries,
                edges=service_graph,
            )
            if span_metrics or service_graph
            else None
        )
        self._tick_s = tick_s
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def graph(self) -> ServiceGraphProcessor | None:
        return self._graph

    async def push(self, batch: SpanColumns | PassthroughSpans) -> None:
        async with self._lock:
            if self._graph is not None:
                self._graph.consume(
                    batch.all_facts() if isinstance(batch, PassthroughSpans) else batch
                )
                self._graph.expire()
            await self._exporter.push(self._take(batch))

    async def start(self) -> None:
        if self._task is None and self._graph is not None:
            self._task = asyncio.create_task(self._tick(), name="collector-derived-signals")

    async def stop(self) -> None:
        """Settle every pair still waiting and export what that gives. Safe twice."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._graph is not None:
            await self._flush(everything=True)

    async def _tick(self) -> None:
        with suppress_self_tracing():
            while True:
                await asyncio.sleep(self._tick_s)
                try:
                    await self._flush(everything=False)
                except Exception:  # the exporter gave up; the next tick carries on
                    log.exception("export of derived RED and service graph rows failed")

    async def _flush(self, *, everything: bool) -> None:
        assert self._graph is not None
        async with self._lock:
            self._graph.expire(everything=everything)
            batch = self._take(SpanColumns())
            if not batch.empty:
                await self._exporter.push(batch)

    def _take(self, spans: SpanColumns | PassthroughSpans) -> ExportBatch:
        if isinstance(spans, PassthroughSpans):
            batch = ExportBatch(otlp=spans.payloads, otlp_spans=len(spans))
        else:
            batch = ExportBatch(spans=spans)
        if self._red is not None:
            batch.red = self._red.take()
        if self._graph is not None:
            batch.edges = self._graph.take_edges()
        return batch
