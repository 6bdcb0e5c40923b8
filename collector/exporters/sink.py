"""SinkExporter: keeps what it is pushed in memory. A real fake for tests and demos.

Like the OpenTelemetry Collector's test sinks it can also be made slow (`pause`)
or failing (`fail_next`), so that queueing and retries are tested without mocks.
"""

from __future__ import annotations

import asyncio

from collector.pipeline import ExportBatch
from storage.model import SpanColumns


class SinkExporterError(RuntimeError):
    pass


class SinkExporter:
    def __init__(self) -> None:
        self.batches: list[SpanColumns] = []  # the spans of each push that had spans
        self.exports: list[ExportBatch] = []  # every ExportBatch pushed (with RED, edges)
        self.push_calls = 0
        self._failures_left = 0
        self._paused = False
        self._changed: asyncio.Condition | None = None

    async def push(self, batch: SpanColumns | ExportBatch) -> None:
        """Take spans (behind a BatchProcessor) or an ExportBatch (behind a Collector)."""
        changed = self._condition()
        async with changed:
            self.push_calls += 1
            await changed.wait_for(lambda: not self._paused)
            if self._failures_left:
                self._failures_left -= 1
                raise SinkExporterError("SinkExporter told to fail this push")
            if isinstance(batch, ExportBatch):
                self.exports.append(batch)
                if len(batch.spans):
                    self.batches.append(batch.spans)
            else:
                self.batches.append(batch)
            changed.notify_all()

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

    async def wait_for_spans(self, count: int, timeout_s: float = 5.0) -> SpanColumns:
        """Wait until at least `count` spans arrived; return them all."""
        changed = self._condition()
        async with changed:
            await asyncio.wait_for(changed.wait_for(lambda: self.span_count >= count), timeout_s)
        return self.spans()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed
