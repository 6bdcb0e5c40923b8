"""DDL for what the collector derives from spans (`red_1m`, `service_edges_1m`) and the
deduplication window that makes replayed inserts idempotent.

Why the collector aggregates in Python rather than a materialized view on
otel_traces: the caller of a server span is its parent span's service, and the
parent comes from another proxy, often in another batch; a view sees one insert
block at a time and cannot join them. The collector pairs spans in memory
(collector/processors/servicegraph.py) and writes partial aggregates here.

Latency is a sparse histogram (storage/latency_histogram.py) summed with
sumMap: histograms of different minutes and versions add up exactly, so
quantiles over any slice are correct (quantile states from Python would need
ClickHouse's binary state format).

`non_replicated_deduplication_window` makes plain MergeTree remember the
insert_deduplication_token of its last inserts, as Replicated tables always do:
a batch replayed from the spool after an insert whose answer was lost is not
written twice.
"""

from __future__ import annotations

from string import Template

from storage.schema import Statement

DEDUP_WINDOW = 1000

_AGGREGATES = """    Requests SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    DurationSumNs SimpleAggregateFunction(sum, UInt64),
    DurationBuckets SimpleAggregateFunction(sumMap, Map(UInt16, UInt64))"""

RED_1M_DDL = Statement(
    Template(
        """CREATE TABLE IF NOT EXISTS `$db`.red_1m (
    Minute DateTime CODEC(Delta(4), ZSTD(1)),
    ServiceName LowCardinality(String),
    Operation LowCardinality(String),
    ServiceVersion LowCardinality(String),
    Caller LowCardinality(String),
    StatusClass LowCardinality(String),
"""
        + _AGGREGATES
        + """
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (ServiceName, Minute, Operation, ServiceVersion, Caller, StatusClass)
${ttl}SETTINGS non_replicated_deduplication_window = """
        + str(DEDUP_WINDOW)
    ),
    ttl_column="Minute",
    retention="aggregates",
)

SERVICE_EDGES_1M_DDL = Statement(
    Template(
        """CREATE TABLE IF NOT EXISTS `$db`.service_edges_1m (
    Minute DateTime CODEC(Delta(4), ZSTD(1)),
    Client LowCardinality(String),
    Server LowCardinality(String),
    ConnectionType LowCardinality(String),
"""
        + _AGGREGATES
        + """
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (Minute, Client, Server, ConnectionType)
${ttl}SETTINGS non_replicated_deduplication_window = """
        + str(DEDUP_WINDOW)
    ),
    ttl_column="Minute",
    retention="aggregates",
)


def _dedup_window(table: str) -> Statement:
    return Statement(
        Template(
            f"ALTER TABLE `$db`.{table} "
            f"MODIFY SETTING non_replicated_deduplication_window = {DEDUP_WINDOW}"
        )
    )


OTEL_TRACES_DEDUP_DDL = _dedup_window("otel_traces")
OTEL_TRACES_TRACE_ID_TS_DEDUP_DDL = _dedup_window("otel_traces_trace_id_ts")
