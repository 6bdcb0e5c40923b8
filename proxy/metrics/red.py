"""RED metrics (Rate, Errors, Duration) per hop, with bounded cardinality.

One series per (direction, source, destination, route, version, status class):
a request count, a duration sum and a latency histogram. The label values come
from config and matched routes, but a misbehaving caller (or a future label)
must not grow memory without bound: past ``max_series`` new label sets are
counted in one ``other`` series per direction and status class, and each such
request increments ``overflowed``.

The request path only does a dict lookup, a bisect and two additions; readers
(the Prometheus page, the OTLP export task) take a :meth:`snapshot`.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

# Upper bounds (le, inclusive) of the latency histogram, in milliseconds; one more
# bucket (+Inf) catches the rest. Documented in docs/benchmarks.md and the README.
BUCKETS_MS: tuple[float, ...] = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
LABELS = ("direction", "source", "destination", "route", "version", "status_class")
OTHER = "other"
DEFAULT_MAX_SERIES = 1000

LabelSet = tuple[str, str, str, str, str, str]


# the bounds as floats: a duration (a float) compares with them without conversions
_BOUNDS = tuple(map(float, BUCKETS_MS))
# the class of every status a response can have, looked up in one step on the request
# path: ``STATUS_CLASSES.get(status, "none")``
STATUS_CLASSES: dict[int | None, str] = {
    status: ("1xx", "2xx", "3xx", "4xx", "5xx")[status // 100 - 1] for status in range(100, 600)}


def status_class(status: int | None) -> str:
    """``2xx`` ... ``5xx``; ``none`` when no response was sent (the caller went away)."""
    return STATUS_CLASSES.get(status, "none")


class _Series:
    __slots__ = ("buckets", "sum_ms")  # the count is the buckets' sum, made by snapshot

    def __init__(self) -> None:
        self.sum_ms = 0.0
        self.buckets = [0] * (len(BUCKETS_MS) + 1)


@dataclass(frozen=True, slots=True)
class SeriesSnapshot:
    labels: LabelSet
    count: int
    sum_ms: float
    buckets: tuple[int, ...]  # per bucket, not cumulative; the last one is +Inf

    @property
    def errors(self) -> int:
        return self.count if self.labels[5] in ("5xx", "none") else 0


@dataclass(frozen=True, slots=True)
class RedSnapshot:
    start_ns: int
    time_ns: int
    series: tuple[SeriesSnapshot, ...]
    overflowed: int
    max_series: int


class RedMetrics:
    """Counters and histograms per label set; ``record`` runs on the event loop."""

    def __init__(self, max_series: int = DEFAULT_MAX_SERIES,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        if max_series < 1:
            raise ValueError("max_series must be at least 1")
        self.max_series = max_series
        self._clock_ns = clock_ns
        self.start_ns = clock_ns()
        self._series: dict[LabelSet, _Series] = {}
        self._kept = 0  # series with their own labels (the ``other`` ones are not counted)
        self.overflowed = 0

    def record(self, labels: LabelSet, duration_ms: float) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._new_series(labels)
        series.sum_ms += duration_ms
        series.buckets[bisect_left(_BOUNDS, duration_ms)] += 1

    def _new_series(self, labels: LabelSet) -> _Series:
        if self._kept >= self.max_series:
            self.overflowed += 1
            other: LabelSet = (labels[0], OTHER, OTHER, OTHER, OTHER, labels[5])
            series = self._series.get(other)
            if series is None:
                series = self._series[other] = _Series()
            return series
        self._kept += 1
        series = self._series[labels] = _Series()
        return series

    def __len__(self) -> int:
        return len(self._series)

    def snapshot(self) -> RedSnapshot:
        """A consistent-enough copy for readers in other threads (dict copy is atomic
        under the GIL; a series read while it is updated may lag by one request)."""
        series = []
        for labels, values in list(self._series.items()):
            buckets = tuple(values.buckets)
            series.append(SeriesSnapshot(labels, sum(buckets), values.sum_ms, buckets))
        return RedSnapshot(start_ns=self.start_ns, time_ns=self._clock_ns(),
                           series=tuple(series), overflowed=self.overflowed,
                           max_series=self.max_series)
