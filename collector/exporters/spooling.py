"""SpoolingExporter: retries, then the disk spool, then replay: nothing accepted is lost.

    push ──► retries (RetryingExporter) ──ok──► done
                 │ gave up, or the spool already holds older batches
                 ▼
             DiskSpool ──replay task, oldest first, with backoff──► exporter

Once anything is spooled, new batches go behind it, so storage receives
batches in the order they were accepted. When the spool is full, `push` waits
for replay to make room: the batch processor's queue then fills and receivers
answer 429, which is backpressure, not loss. Replays carry the batch's original
deduplication token, so a batch whose first insert did land is not stored twice.
Without a spool directory this is a RetryingExporter that raises when it gives up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from collector.background import cancel_and_wait
from collector.config import RetryConfig
from collector.exporters.export_latency import ExportLatency
from collector.exporters.retrying import RetryingExporter
from collector.exporters.spool import DiskSpool
from collector.pipeline import BatchExporter, ExportBatch, ItemCounts
from collector.self_tracing import suppress_self_tracing

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ExportStats:
    """Items per signal (spans, metric points, log records) and export latency."""

    exported: ItemCounts = field(default_factory=ItemCounts)  # directly or by replay
    spooled: ItemCounts = field(default_factory=ItemCounts)
    replayed: ItemCounts = field(default_factory=ItemCounts)
    export_seconds_sum: float = 0.0
    export_count: int = 0
    export_latency: ExportLatency = field(default_factory=ExportLatency)  # the same, bucketed

    @property
    def exported_spans(self) -> int:
        return self.exported.spans

    @property
    def spooled_spans(self) -> int:
        return self.spooled.spans

    @property
    def replayed_spans(self) -> int:
        return self.replayed.spans


class SpoolingExporter:
    def __init__(
        self,
        exporter: BatchExporter,
        retry: RetryConfig | None = None,
        spool: DiskSpool | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._exporter = exporter
        self._retry = retry or RetryConfig()
        self._retrying = RetryingExporter(_Timed(exporter, self), self._retry, sleep=sleep)
        self._spool = spool
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stats = ExportStats()

    @property
    def spool(self) -> DiskSpool | None:
        return self._spool

    async def start(self) -> None:
        """Start replaying; a spool left by an earlier run is replayed first."""
        if self._task is None and self._spool is not None:
            self._wake.set()
            self._task = asyncio.create_task(self._replay(), name="collector-spool-replay")

    async def stop(self) -> None:
        """Stop replaying; what is still spooled stays on disk for the next start."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def push(self, batch: ExportBatch) -> None:
        if self._spool is None or not len(self._spool):
            try:
                await self._retrying.push(batch)
                self.stats.exported.add_all(batch.counts())
                return
            except Exception:
                if self._spool is None:
                    raise
        await self._to_spool(batch)

    async def _to_spool(self, batch: ExportBatch) -> None:
        assert self._spool is not None
        while not await asyncio.to_thread(self._spool.append, batch):
            log.warning("spool is full (%d bytes); waiting for replay", self._spool.stats.bytes)
            self._room.clear()
            await self._room.wait()
        self.stats.spooled.add_all(batch.counts())
        self._wake.set()

    async def _replay(self) -> None:
        assert self._spool is not None
        spool = self._spool
        with suppress_self_tracing():
            while True:
                await self._wake.wait()
                backoff = self._retry.initial_backoff_s
                while True:
                    oldest = await asyncio.to_thread(spool.oldest)
                    if oldest is None:
                        self._room.set()
                        break
                    path, batch = oldest
                    try:
                        await _Timed(self._exporter, self).push(batch)
                    except Exception as exc:
                        log.warning("spool replay failed, retrying in %.2fs: %r", backoff, exc)
                        await self._sleep(backoff)
                        backoff = min(
                            backoff * self._retry.backoff_multiplier, self._retry.max_backoff_s
                        )
                        continue
                    backoff = self._retry.initial_backoff_s
                    await asyncio.to_thread(spool.remove, path)
                    self.stats.replayed.add_all(batch.counts())
                    self.stats.exported.add_all(batch.counts())
                    self._room.set()
                if not len(spool):
                    self._wake.clear()


class _Timed:
    """Measures each push to the real exporter (export latency, self-telemetry)."""

    def __init__(self, exporter: BatchExporter, owner: SpoolingExporter) -> None:
        self._exporter = exporter
        self._owner = owner

    async def push(self, batch: ExportBatch) -> None:
        started = time.perf_counter()
        await self._exporter.push(batch)
        elapsed = time.perf_counter() - started
        self._owner.stats.export_seconds_sum += elapsed
        self._owner.stats.export_count += 1
        self._owner.stats.export_latency.record(elapsed)
