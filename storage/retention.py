"""How long each table keeps its rows: spans for days, aggregates for months, audit for a year.

Three classes, because what they cost and what they are for differ: raw spans
(and with them the other raw telemetry, metric points and logs) are most of the
bytes and are read for recent debugging; `red_1m` and
`service_edges_1m` are small and feed SLOs over weeks; the audit log is a record
someone may have to show. Every table ages whole daily (monthly for the audit
log) partitions out (`ttl_only_drop_parts`), so expiry never rewrites a part.

New tables get their TTL when created; `retention_sql` changes it on existing
tables (`meshlens storage retention`), through `ALTER TABLE ... MODIFY TTL`.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.schema import DATABASE_NAME, ttl_clause

RETENTION_CLASSES = ("spans", "aggregates", "audit")


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """Days to keep each class of table; None keeps rows forever."""

    spans_days: int | None = None
    aggregates_days: int | None = None
    audit_days: int | None = None

    def __post_init__(self) -> None:
        problems = []
        for name in ("spans_days", "aggregates_days", "audit_days"):
            try:
                ttl_clause("Timestamp", getattr(self, name))
            except ValueError as exc:
                problems.append(str(exc).replace("ttl_days", name, 1))
        if problems:
            raise ValueError("invalid RetentionConfig: " + "; ".join(problems))

    @classmethod
    def uniform(cls, days: int | None) -> RetentionConfig:
        """The same days for every table (the older `ttl_days` argument)."""
        return cls(spans_days=days, aggregates_days=days, audit_days=days)

    def days_for(self, retention_class: str) -> int | None:
        if retention_class not in RETENTION_CLASSES:
            raise ValueError(f"retention class: must be one of {RETENTION_CLASSES}, got "
                             f"{retention_class!r}")  # fmt: skip
        days: int | None = getattr(self, f"{retention_class}_days")
        return days


# Every table with a TTL: (table, column rows age by, retention class).
TTL_TABLES: tuple[tuple[str, str, str], ...] = (
    ("otel_traces", "Timestamp", "spans"),
    ("otel_traces_trace_id_ts", "Start", "spans"),
    ("otel_traces_attributes", "Day", "spans"),
    ("red_1m", "Minute", "aggregates"),
    ("service_edges_1m", "Minute", "aggregates"),
    ("audit_log", "EventTime", "audit"),
    # Metric points and logs are raw telemetry: they age with the spans.
    ("otel_metrics_gauge", "TimeUnix", "spans"),
    ("otel_metrics_sum", "TimeUnix", "spans"),
    ("otel_metrics_histogram", "TimeUnix", "spans"),
    ("otel_metrics_exponential_histogram", "TimeUnix", "spans"),
    ("otel_metrics_summary", "TimeUnix", "spans"),
    ("otel_logs", "TimestampTime", "spans"),
)


def retention_sql(
    database: str, config: RetentionConfig, cluster: str | None = None, *, local_suffix: str = ""
) -> list[str]:
    """ALTER statements setting the TTL of every table whose class `config` gives days for.

    A class left None is not touched (use `remove_ttl_sql` to keep rows forever).
    In cluster mode the TTL belongs to the shards' local tables.
    """
    if not DATABASE_NAME.match(database):
        raise ValueError(f"database: must match {DATABASE_NAME.pattern}, got {database!r}")
    on_cluster = f" ON CLUSTER `{cluster}`" if cluster else ""
    statements = []
    for table, column, retention_class in TTL_TABLES:
        days = config.days_for(retention_class)
        if days is None:
            continue
        ttl = ttl_clause(column, days).removeprefix("TTL ").strip()
        statements.append(
            f"ALTER TABLE `{database}`.{table}{local_suffix}{on_cluster} MODIFY TTL {ttl}"
        )
    return statements


def remove_ttl_sql(
    database: str, retention_class: str, cluster: str | None = None, *, local_suffix: str = ""
) -> list[str]:
    """ALTER statements that make every table of one class keep its rows forever."""
    if retention_class not in RETENTION_CLASSES:
        raise ValueError(f"retention class: must be one of {RETENTION_CLASSES}")
    on_cluster = f" ON CLUSTER `{cluster}`" if cluster else ""
    return [
        f"ALTER TABLE `{database}`.{table}{local_suffix}{on_cluster} REMOVE TTL"
        for table, _, cls in TTL_TABLES
        if cls == retention_class
    ]
