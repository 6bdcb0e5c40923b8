"""Real fakes for testing the collector against storage trouble (STYLE 9).

`FailingStore` stands between an exporter and a real `Store` and can be taken
away: while down, every write raises `StorageUnavailableError`, as a ClickHouse
that is restarting or unreachable would, and nothing reaches the store.
`FakeClock` is the collector's clock (monotonic seconds, and a sleep) moved by
hand, so that waits such as tail sampling's decision wait pass without sleeping.
`MetricsSink` keeps what self-metrics write, for tests without storage.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import Sequence

from collector.exporters.clickhouse import SpanWriter
from collector.translate import decode_protobuf
from storage.logs_model import LogColumns
from storage.metrics_model import MetricColumns
from storage.model import SpanColumns
from storage.span_metrics_model import EdgeColumns, RedColumns


class StorageUnavailableError(ConnectionError):
    pass


class FailingStore:
    """Wraps anything with the Store's write methods; `take_away()` / `give_back()`.

    `down_for(seconds)` takes the store away until that much time has passed.
    `lose_answers(n)`: the next n span writes reach the store but then raise, as
    when the connection drops after ClickHouse has stored the insert.
    """

    def __init__(self, store: SpanWriter) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._down_until: float | None = None
        self._answers_to_lose = 0
        self.failed_writes = 0
        self.spans_written = 0

    def take_away(self) -> None:
        with self._lock:
            self._down_until = float("inf")

    def give_back(self) -> None:
        with self._lock:
            self._down_until = None

    def down_for(self, seconds: float) -> None:
        with self._lock:
            self._down_until = time.monotonic() + seconds

    def lose_answers(self, writes: int) -> None:
        with self._lock:
            self._answers_to_lose = writes

    @property
    def is_down(self) -> bool:
        with self._lock:
            return self._down_until is not None and time.monotonic() < self._down_until

    def _check(self) -> None:
        if self.is_down:
            with self._lock:
                self.failed_writes += 1
            raise StorageUnavailableError("storage taken away by FailingStore")

    def write_spans(self, batch: SpanColumns, *, dedup_token: str | None = None) -> None:
        self._check()
        self._store.write_spans(batch, dedup_token=dedup_token)
        self._stored(len(batch))

    def write_otlp_traces(
        self, payloads: Sequence[bytes], *, dedup_token: str | None = None
    ) -> None:
        self._check()
        self._store.write_otlp_traces(payloads, dedup_token=dedup_token)
        self._stored(sum(len(decode_protobuf(payload)) for payload in payloads))

    def _stored(self, spans: int) -> None:
        with self._lock:
            self.spans_written += spans
            lose = self._answers_to_lose > 0
            if lose:
                self._answers_to_lose -= 1
        if lose:
            raise StorageUnavailableError("FailingStore lost the answer to a stored insert")

    def write_red(self, rows: RedColumns, *, dedup_token: str | None = None) -> None:
        self._check()
        self._store.write_red(rows, dedup_token=dedup_token)

    def write_edges(self, rows: EdgeColumns, *, dedup_token: str | None = None) -> None:
        self._check()
        self._store.write_edges(rows, dedup_token=dedup_token)

    def write_metrics(self, batch: MetricColumns, *, dedup_token: str | None = None) -> None:
        self._check()
        self._store.write_metrics(batch, dedup_token=dedup_token)

    def write_logs(self, batch: LogColumns, *, dedup_token: str | None = None) -> None:
        self._check()
        self._store.write_logs(batch, dedup_token=dedup_token)


class FakeClock:
    """Call it for the time; `await clock.sleep(s)` returns once `advance` passes it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), waiter))
        await waiter

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose time has come."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)


class MetricsSink:
    """A `write_metrics` that keeps each batch in memory (self-metrics without storage)."""

    def __init__(self) -> None:
        self.batches: list[MetricColumns] = []

    def write_metrics(self, batch: MetricColumns, *, dedup_token: str | None = None) -> None:
        self.batches.append(batch)
