"""Batch processor: a bounded queue between receivers and the exporter.

Receivers hand over decoded batches with `try_put`, which never waits: when the
queue holds `queue_spans` spans or `queue_bytes` bytes as received (counting those
being exported) it refuses, and
the receiver tells the client to retry later (HTTP 429, gRPC RESOURCE_EXHAUSTED).
A single flush task merges small batches and splits large ones into batches of at
most `batch_spans`, sending one as soon as it is full or `batch_timeout_s` after
the oldest waiting span arrived. `stop()` refuses new spans and drains the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque

from collector.pipeline import SpanExporter
from collector.self_tracing import suppress_self_tracing
from storage.model import SpanColumns

log = logging.getLogger(__name__)

_COLUMN_NAMES = tuple(f.name for f in dataclasses.fields(SpanColumns))


@dataclasses.dataclass(slots=True)
class BatchStats:
    accepted_spans: int = 0
    refused_spans: int = 0
    exported_spans: int = 0
    dropped_spans: int = 0  # the exporter failed for good, or stop() timed out


def split_columns(batch: SpanColumns, count: int) -> tuple[SpanColumns, SpanColumns]:
    """The first `count` spans of `batch` and the rest."""
    head, tail = SpanColumns(), SpanColumns()
    for name in _COLUMN_NAMES:
        column = getattr(batch, name)
        setattr(head, name, column[:count])
        setattr(tail, name, column[count:])
    return head, tail


class BatchProcessor:
    def __init__(
        self,
        exporter: SpanExporter,
        *,
        queue_spans: int = 100_000,
        queue_bytes: int = 256 * 1024 * 1024,
        batch_spans: int = 8192,
        batch_timeout_s: float = 0.2,
        drain_timeout_s: float = 10.0,
    ) -> None:
        self._exporter = exporter
        self._queue_spans = queue_spans
        self._queue_bytes = queue_bytes
        self._batch_spans = batch_spans
        self._batch_timeout_s = batch_timeout_s
        self._drain_timeout_s = drain_timeout_s
        self._pending: deque[SpanColumns] = deque()
        self._pending_spans = 0
        self._queued_spans = 0  # pending plus the batch being exported
        # Bytes are known per received batch; a queued span is charged its
        # batch's average, so splits and merges keep the total exact enough.
        self._queued_bytes = 0.0
        self._bytes_per_span: deque[float] = deque()
        self._oldest_at = 0.0
        self._accepting = False
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.stats = BatchStats()

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    @property
    def queued_bytes(self) -> int:
        return int(self._queued_bytes)

    def try_put(self, batch: SpanColumns, size_bytes: int = 0) -> bool:
        count = len(batch)
        if not self._accepting or self._wake is None:
            self.stats.refused_spans += count
            return False
        if count == 0:
            return True
        # A batch larger than the whole queue is still taken when the queue is
        # empty; refusing it would make its client retry forever.
        if self._queued_spans and (
            self._queued_spans + count > self._queue_spans
            or self._queued_bytes + size_bytes > self._queue_bytes
        ):
            self.stats.refused_spans += count
            return False
        if not self._pending:
            self._oldest_at = asyncio.get_running_loop().time()
            self._wake.set()
        self._pending.append(batch)
        self._bytes_per_span.append(size_bytes / count)
        self._pending_spans += count
        self._queued_spans += count
        self._queued_bytes += size_bytes
        self.stats.accepted_spans += count
        if self._pending_spans >= self._batch_spans:
            self._wake.set()
        return True

    async def start(self) -> None:
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        self._stopping = False
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="collector-batch-processor")

    async def stop(self) -> None:
        """Refuse new spans, export what is queued (up to `drain_timeout_s`), stop."""
        task = self._task
        if task is None or self._wake is None:
            return
        self._accepting = False
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=self._drain_timeout_s)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending_spans:
            log.error("dropped %d spans: the exporter did not drain in time", self._pending_spans)
            self.stats.dropped_spans += self._pending_spans
        self._pending.clear()
        self._bytes_per_span.clear()
        self._pending_spans = self._queued_spans = 0
        self._queued_bytes = 0.0
        self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake
        loop = asyncio.get_running_loop()
        with suppress_self_tracing():
            while True:
                if not self._pending:
                    if self._stopping:
                        return
                    wake.clear()
                    await wake.wait()
                    continue
                if self._pending_spans < self._batch_spans and not self._stopping:
                    remaining = self._oldest_at + self._batch_timeout_s - loop.time()
                    if remaining > 0:
                        wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(wake.wait(), remaining)
                        continue
                await self._export(*self._take())

    def _take(self) -> tuple[SpanColumns, float]:
        """Up to `batch_spans` spans from the front of the queue, as one batch, and
        the bytes charged for them."""
        limit = self._batch_spans
        batch = self._pending.popleft()
        rate = self._bytes_per_span.popleft()
        charged = 0.0
        if len(batch) > limit:
            batch, rest = split_columns(batch, limit)
            self._pending.appendleft(rest)
            self._bytes_per_span.appendleft(rate)
        elif self._pending and len(batch) < limit:
            merged = SpanColumns()
            merged.extend(batch)
            charged += rate * len(batch)
            while self._pending and len(merged) < limit:
                following = self._pending.popleft()
                rate = self._bytes_per_span.popleft()
                room = limit - len(merged)
                if len(following) > room:
                    following, rest = split_columns(following, room)
                    self._pending.appendleft(rest)
                    self._bytes_per_span.appendleft(rate)
                merged.extend(following)
                charged += rate * len(following)
            self._pending_spans -= len(merged)
            return merged, charged
        self._pending_spans -= len(batch)
        return batch, rate * len(batch)

    async def _export(self, batch: SpanColumns, charged_bytes: float) -> None:
        count = len(batch)
        try:
            await self._exporter.push(batch)
            self.stats.exported_spans += count
        except asyncio.CancelledError:  # stop() ran out of time
            log.error("dropped %d spans: export cancelled at shutdown", count)
            self.stats.dropped_spans += count
            raise
        except Exception:
            log.exception("dropped %d spans: the exporter failed", count)
            self.stats.dropped_spans += count
        finally:
            self._queued_spans -= count
            self._queued_bytes = max(0.0, self._queued_bytes - charged_bytes)
