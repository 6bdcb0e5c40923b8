"""SinkExporter: keeps what it is pushed in memory. A real fake for tests and demos.

Like the OpenTelemetry Collector's test sinks it can also be made slow (`pause`)
or failing (`fail_next`), so that queueing and retries are tested without mocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from collector.pipeline import ExportBatch, SignalBatch
from collector.translate import decode_protobuf
from collector.translate.passthrough_batch import PassthroughSpans
from storage.logs_model import LogColumns
from storage.metrics_model import MetricColumns
from storage.model import SpanColumns


class SinkExporterError(RuntimeError):
    pass


class SinkExporter:
    def __init__(self) -> None:
        self.batches: list[SpanColumns] = []  # the spans of each push that had spans
        self.exports: list[ExportBatch] = []  # every ExportBatch pushed (with RED, edges)
        self.metric_batches: list[MetricColumns] = []  # the metric points of each push
        self.log_batches: list[LogColumns] = []  # the log records of each push
        self.push_calls = 0
        self._failures_left = 0
        self._paused = False
        self._changed: asyncio.Condition | None = None

    async def push(self, batch: SignalBatch | ExportBatch) -> None:
        """Take a batch of any signal (behind a BatchProcessor) or an ExportBatch
        (behind a Collector)."""
        changed = self._condition()
        async with changed:
            self.push_calls += 1
            await changed.wait_for(lambda: not self._paused)
            if self._failures_left:
                self._failures_left -= 1
                raise SinkExporterError("SinkExporter told to fail this push")
            if isinstance(batch, ExportBatch):
                self.exports.append(batch)
                for part in (batch.spans, batch.metrics, batch.logs):
                    if len(part):
                        self._keep(part)
                for request in batch.otlp:  # spans passed through undecoded: kept decoded
                    self._keep(decode_protobuf(request))
            else:
                self._keep(batch)
            changed.notify_all()

    def _keep(self, batch: SignalBatch) -> None:
        if isinstance(batch, MetricColumns):
            self.metric_batches.append(batch)
        elif isinstance(batch, LogColumns):
            self.log_batches.append(batch)
        elif isinstance(batch, PassthroughSpans):
            self.batches.extend(decode_protobuf(request) for request in batch.payloads)
        else:
            self.batches.append(batch)

    @property
    def span_count(self) -> int:
        return sum(len(b) for b in self.batches)

    def spans(self) -> SpanColumns:
        """Everything received so far, as one batch."""
        merged = SpanColumns()
        for batch in self.batches:
            merged.extend(batch)
        return merged

    def fail_next(self, pushes: int) -> None:
        """Make the next `pushes` calls raise `SinkExporterError`."""
        self._failures_left = pushes

    def pause(self) -> None:
        """Hold every push (as a stalled storage would) until `resume()`."""
        self._paused = True

    async def resume(self) -> None:
        changed = self._condition()
        async with changed:
            self._paused = False
            changed.notify_all()

    def metric_points(self) -> MetricColumns:
        """Every metric point received so far, as one batch."""
        merged = MetricColumns()
        for batch in self.metric_batches:
            merged.extend(batch)
        return merged

    def log_records(self) -> LogColumns:
        """Every log record received so far, as one batch."""
        merged = LogColumns()
        for batch in self.log_batches:
            merged.extend(batch)
        return merged

    async def wait_for_spans(self, count: int, timeout_s: float = 5.0) -> SpanColumns:
        """Wait until at least `count` spans arrived; return them all."""
        await self._wait_until(lambda: self.span_count >= count, timeout_s)
        return self.spans()

    async def wait_for_metric_points(self, count: int, timeout_s: float = 5.0) -> MetricColumns:
        """Wait until at least `count` metric points arrived; return them all."""
        await self._wait_until(lambda: len(self.metric_points()) >= count, timeout_s)
        return self.metric_points()

    async def wait_for_log_records(self, count: int, timeout_s: float = 5.0) -> LogColumns:
        """Wait until at least `count` log records arrived; return them all."""
        await self._wait_until(lambda: len(self.log_records()) >= count, timeout_s)
        return self.log_records()

    async def _wait_until(self, done: Callable[[], bool], timeout_s: float) -> None:
        changed = self._condition()
        async with changed:
            await asyncio.wait_for(changed.wait_for(done), timeout_s)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed
