"""Latency histograms that merge exactly: fixed log-scale buckets, stored as a sparse map.

`red_1m` and `service_edges_1m` keep durations as `Map(UInt16, UInt64)` of bucket
index to count (SimpleAggregateFunction(sumMap)). Summing maps across minutes,
versions or callers gives the histogram of the union, so p50/p90/p99 of any
slice are read from one merged map; averaging per-row quantiles would not be.

Buckets: index 0 holds durations up to 1 µs; bucket i > 0 holds
(1 µs * 2^((i-1)/8), 1 µs * 2^(i/8)], eight per doubling, so a quantile read
as its bucket's upper bound is at most 9.05% above the true value. Index 255
reaches ~4 days; longer durations share it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

BUCKETS_PER_OCTAVE = 8
FIRST_UPPER_NS = 1000
MAX_INDEX = 255
_LOG2_FIRST = math.log2(FIRST_UPPER_NS)


def bucket_index(duration_ns: int) -> int:
    """The bucket a duration falls in."""
    if duration_ns <= FIRST_UPPER_NS:
        return 0
    index = math.ceil((math.log2(duration_ns) - _LOG2_FIRST) * BUCKETS_PER_OCTAVE)
    return index if index < MAX_INDEX else MAX_INDEX


def bucket_upper_ns(index: int) -> float:
    """The largest duration bucket `index` holds (its upper bound)."""
    return FIRST_UPPER_NS * 2.0 ** (index / BUCKETS_PER_OCTAVE)


def quantile_ns(buckets: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of a histogram, as its bucket's upper bound.

    None for an empty histogram. Ranks follow the nearest-rank rule: the value
    at rank ceil(q * n), so p50 of [a, b] is a and p100 is the maximum.
    """
    if not 0 < q <= 1:
        raise ValueError(f"q: must be in (0, 1], got {q!r}")
    total = sum(buckets.values())
    if total <= 0:
        return None
    rank = math.ceil(q * total)
    seen = 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return bucket_upper_ns(index)
    return bucket_upper_ns(max(buckets))
