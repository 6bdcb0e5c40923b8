"""Real fakes for testing the collector against storage trouble (STYLE 9).

`FailingStore` stands between an exporter and a real `Store` and can be taken
away: while down, every write raises `StorageUnavailableError`, as a ClickHouse
that is restarting or unreachable would, and nothing reaches the store.
"""

from __future__ import annotations

import threading
import time

from collector.exporters.clickhouse import SpanWriter
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
        with self._lock:
            self.spans_written += len(batch)
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
