"""ExportLatency: a cumulative histogram of how long pushes to the exporter take.

The spooling exporter records every push to the real exporter (direct or replay)
here; self-metrics write it to `otel_metrics_histogram` as
`meshlens_collector_export_duration_seconds`. Bounds are fixed, in seconds, and
follow OTLP explicit-bucket semantics: bucket i counts durations in
(bounds[i-1], bounds[i]], the last bucket everything above the last bound.
Recording is one bisect over a short tuple, cheap enough for every push.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# From 1 ms (a small chdb insert) to 30 s (a struggling server, before retries give up).
EXPORT_LATENCY_BOUNDS_S: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


@dataclass(slots=True)
class ExportLatency:
    bounds: tuple[float, ...] = EXPORT_LATENCY_BOUNDS_S
    bucket_counts: list[int] = field(default_factory=list)  # len(bounds) + 1 once built
    count: int = 0
    sum: float = 0.0
    min: float = 0.0  # meaningful once count > 0
    max: float = 0.0

    def __post_init__(self) -> None:
        if not self.bucket_counts:
            self.bucket_counts = [0] * (len(self.bounds) + 1)

    def record(self, seconds: float) -> None:
        self.bucket_counts[bisect.bisect_left(self.bounds, seconds)] += 1
        if not self.count or seconds < self.min:
            self.min = seconds
        if seconds > self.max:
            self.max = seconds
        self.count += 1
        self.sum += seconds

    def copy(self) -> ExportLatency:
        """A snapshot that later pushes do not change."""
        return ExportLatency(
            self.bounds, list(self.bucket_counts), self.count, self.sum, self.min, self.max
        )
