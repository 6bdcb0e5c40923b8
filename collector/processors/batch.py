"""Batch processor: a bounded queue between receivers and the exporter, for every signal.

Receivers hand over decoded batches with `try_put`, which never waits: when the
queue holds `queue_spans` items or `queue_bytes` bytes as received (counting those
being exported) it refuses, and
the receiver tells the client to retry later (HTTP 429, gRPC RESOURCE_EXHAUSTED).
Items are spans, metric data points and log records: one budget for all
signals, so that a flood of one signal is backpressure for all, as memory is.
Each signal waits in a lane of its own (batches are merged within a signal
only). A single flush task sends a lane's batch as soon as it holds
`batch_spans` items or `batch_timeout_s` after its oldest item arrived; of
several lanes ready, the one waiting longest goes first. A batch takes all the
lane holds, up to `batch_max_spans` (the OpenTelemetry Collector's
`send_batch_max_size`): while an export runs, what arrives meanwhile goes out
next as one larger batch, since each insert costs storage a fixed ~100 ms
(planning, a new part, merging it later) whatever its size.
`stop()` refuses new items and drains the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from typing import Any

from collector.pipeline import ItemCounts, SignalBatch, SignalExporter, unit_of
from collector.self_tracing import suppress_self_tracing

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class BatchStats:
    """Items per signal: taken, refused (queue full), exported, lost."""

    accepted: ItemCounts = dataclasses.field(default_factory=ItemCounts)
    refused: ItemCounts = dataclasses.field(default_factory=ItemCounts)
    # Left out of accepted requests as invalid (partial success); never queued.
    rejected: ItemCounts = dataclasses.field(default_factory=ItemCounts)
    exported: ItemCounts = dataclasses.field(default_factory=ItemCounts)
    # The exporter failed for good, or stop() timed out.
    dropped: ItemCounts = dataclasses.field(default_factory=ItemCounts)

    @property
    def accepted_spans(self) -> int:
        return self.accepted.spans

    @property
    def refused_spans(self) -> int:
        return self.refused.spans

    @property
    def exported_spans(self) -> int:
        return self.exported.spans

    @property
    def dropped_spans(self) -> int:
        return self.dropped.spans


def split_columns(batch: Any, count: int) -> tuple[Any, Any]:
    """The first `count` items of `batch` (a batch of any signal) and the rest."""
    return batch.split(count)


@dataclasses.dataclass(slots=True)
class _Lane:
    """The batches of one signal waiting to be exported, oldest first."""

    unit: str
    pending: deque[Any] = dataclasses.field(default_factory=deque)
    # Bytes are known per received batch; a queued item is charged its
    # batch's average, so splits and merges keep the total exact enough.
    bytes_per_item: deque[float] = dataclasses.field(default_factory=deque)
    items: int = 0
    oldest_at: float = 0.0


class BatchProcessor:
    def __init__(
        self,
        exporter: SignalExporter,
        *,
        queue_spans: int = 100_000,
        queue_bytes: int = 256 * 1024 * 1024,
        batch_spans: int = 8192,
        batch_max_spans: int | None = None,
        batch_timeout_s: float = 0.2,
        drain_timeout_s: float = 10.0,
    ) -> None:
        """`batch_max_spans`: None is `batch_spans` (every batch at most that size)."""
        if batch_max_spans is not None and batch_max_spans < batch_spans:
            raise ValueError(
                f"batch_max_spans: must be >= batch_spans ({batch_spans}), got {batch_max_spans}"
            )
        self._exporter = exporter
        self._queue_spans = queue_spans
        self._queue_bytes = queue_bytes
        self._batch_spans = batch_spans
        self._batch_max_spans = batch_max_spans or batch_spans
        self._batch_timeout_s = batch_timeout_s
        self._drain_timeout_s = drain_timeout_s
        # One lane per signal and kind of batch: passthrough trace requests
        # (collector/translate/passthrough_batch.py) do not merge with decoded spans.
        self._lanes: dict[tuple[str, type], _Lane] = {}
        self._queued_spans = 0  # items of every lane, plus the batch being exported
        self._queued_bytes = 0.0
        self._accepting = False
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.stats = BatchStats()

    @property
    def queued_spans(self) -> int:
        """Items queued or being exported (spans, metric points and log records)."""
        return self._queued_spans

    @property
    def queued_bytes(self) -> int:
        return int(self._queued_bytes)

    def try_put(self, batch: SignalBatch, size_bytes: int = 0, rejected: int = 0) -> bool:
        count, unit = len(batch), unit_of(batch)
        if not self._accepting or self._wake is None:
            self.stats.refused.add(unit, count)
            return False
        # A batch larger than the whole queue is still taken when the queue is
        # empty; refusing it would make its client retry forever.
        if count and self._queued_spans and (
            self._queued_spans + count > self._queue_spans
            or self._queued_bytes + size_bytes > self._queue_bytes
        ):
            self.stats.refused.add(unit, count)
            return False
        self.stats.rejected.add(unit, rejected)
        if count == 0:
            return True
        lane = self._lanes.get((unit, type(batch)))
        if lane is None:
            lane = self._lanes[unit, type(batch)] = _Lane(unit)
        if not lane.pending:
            lane.oldest_at = asyncio.get_running_loop().time()
            self._wake.set()
        lane.pending.append(batch)
        lane.bytes_per_item.append(size_bytes / count)
        lane.items += count
        self._queued_spans += count
        self._queued_bytes += size_bytes
        self.stats.accepted.add(unit, count)
        if lane.items >= self._batch_spans:
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
        for lane in self._lanes.values():
            if lane.items:
                log.error(
                    "dropped %d %s: the exporter did not drain in time", lane.items, lane.unit
                )
                self.stats.dropped.add(lane.unit, lane.items)
        self._lanes.clear()
        self._queued_spans = 0
        self._queued_bytes = 0.0
        self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake
        loop = asyncio.get_running_loop()
        with suppress_self_tracing():
            while True:
                waiting = [lane for lane in self._lanes.values() if lane.pending]
                if not waiting:
                    if self._stopping:
                        return
                    wake.clear()
                    await wake.wait()
                    continue
                lane = min(waiting, key=lambda w: w.oldest_at)  # the one waiting longest
                full = [w for w in waiting if w.items >= self._batch_spans]
                if full:
                    lane = min(full, key=lambda w: w.oldest_at)
                elif not self._stopping:
                    remaining = lane.oldest_at + self._batch_timeout_s - loop.time()
                    if remaining > 0:
                        wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(wake.wait(), remaining)
                        continue
                await self._export(lane, *self._take(lane))

    def _take(self, lane: _Lane) -> tuple[Any, float]:
        """Up to `batch_max_spans` items from the front of `lane`, as one batch, and
        the bytes charged for them."""
        limit = self._batch_max_spans
        pending, rates = lane.pending, lane.bytes_per_item
        batch = pending.popleft()
        rate = rates.popleft()
        charged = 0.0
        if len(batch) > limit:
            batch, rest = split_columns(batch, limit)
            if len(rest):  # a batch splitting only between requests may have none
                pending.appendleft(rest)
                rates.appendleft(rate)
            charged = rate * len(batch)
        elif pending and len(batch) < limit:
            merged = type(batch)()
            merged.extend(batch)
            charged += rate * len(batch)
            while pending and len(merged) < limit:
                following = pending.popleft()
                rate = rates.popleft()
                room = limit - len(merged)
                if len(following) > room:
                    following, rest = split_columns(following, room)
                    if len(rest):
                        pending.appendleft(rest)
                        rates.appendleft(rate)
                merged.extend(following)
                charged += rate * len(following)
            batch = merged
        else:
            charged = rate * len(batch)
        lane.items -= len(batch)
        return batch, charged

    async def _export(self, lane: _Lane, batch: Any, charged_bytes: float) -> None:
        count, unit = len(batch), lane.unit
        try:
            await self._exporter.push(batch)
            self.stats.exported.add(unit, count)
        except asyncio.CancelledError:  # stop() ran out of time
            log.error("dropped %d %s: export cancelled at shutdown", count, unit)
            self.stats.dropped.add(unit, count)
            raise
        except Exception:
            log.exception("dropped %d %s: the exporter failed", count, unit)
            self.stats.dropped.add(unit, count)
        finally:
            self._queued_spans -= count
            self._queued_bytes = max(0.0, self._queued_bytes - charged_bytes)
