"""Rows derived from spans: RED per server operation and service graph edges.

Like `SpanColumns`, these are column lists ready for a column-oriented insert.
Each row is a partial aggregate for one minute; the AggregatingMergeTree tables
sum rows with the same key, so writing a key twice (two batches, two collector
replicas) is correct, and writing one batch twice is prevented by its
deduplication token.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RedColumns:
    """Rows of `red_1m`: requests, errors and a latency histogram per key and minute."""

    Minute: list[int] = field(default_factory=list)  # seconds since the epoch, whole minutes
    ServiceName: list[str] = field(default_factory=list)
    Operation: list[str] = field(default_factory=list)
    ServiceVersion: list[str] = field(default_factory=list)
    Caller: list[str] = field(default_factory=list)
    StatusClass: list[str] = field(default_factory=list)
    Requests: list[int] = field(default_factory=list)
    Errors: list[int] = field(default_factory=list)
    DurationSumNs: list[int] = field(default_factory=list)
    DurationBuckets: list[dict[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.Minute)


@dataclass(slots=True)
class EdgeColumns:
    """Rows of `service_edges_1m`: calls from one service to another (or to a
    database or external host) per minute, with latency as the caller saw it."""

    Minute: list[int] = field(default_factory=list)
    Client: list[str] = field(default_factory=list)
    Server: list[str] = field(default_factory=list)
    ConnectionType: list[str] = field(default_factory=list)  # "", "database", "external"
    Requests: list[int] = field(default_factory=list)
    Errors: list[int] = field(default_factory=list)
    DurationSumNs: list[int] = field(default_factory=list)
    DurationBuckets: list[dict[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.Minute)


RED_COLUMN_NAMES: tuple[str, ...] = RedColumns.__slots__
EDGE_COLUMN_NAMES: tuple[str, ...] = EdgeColumns.__slots__


@dataclass(frozen=True, slots=True)
class RedSummary:
    """RED of one slice of `red_1m` (all rows matching a query), merged."""

    requests: int
    errors: int
    duration_sum_ns: int
    buckets: dict[int, int]


@dataclass(frozen=True, slots=True)
class EdgeSummary:
    client: str
    server: str
    connection_type: str
    requests: int
    errors: int
    duration_sum_ns: int
    buckets: dict[int, int]
