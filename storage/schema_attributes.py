"""The attribute keys and values seen, kept by a materialized view for autocompletion.

Search boxes suggest attribute keys, then values of a key, as the user types.
Scanning `otel_traces` for that reads the two Map columns of every span in the
window; this table holds one row per (service, key, value, day) instead, summed
by the AggregatingMergeTree, so suggestions read a few thousand rows.

Values longer than MAX_VALUE_LENGTH are not recorded: they are ids, URLs with
query strings or payloads, which nobody picks from a list, and which would make
this table as large as the spans. Keys are always recorded.
"""

from __future__ import annotations

from string import Template

from storage.schema import Statement

MAX_VALUE_LENGTH = 128

OTEL_TRACES_ATTRIBUTES_DDL = Statement(
    Template(
        """CREATE TABLE IF NOT EXISTS `$db`.otel_traces_attributes (
    Day Date CODEC(Delta(2), ZSTD(1)),
    ServiceName LowCardinality(String),
    Key LowCardinality(String),
    Value String CODEC(ZSTD(1)),
    Spans SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(Day)
ORDER BY (ServiceName, Key, Value, Day)
${ttl}SETTINGS ttl_only_drop_parts = 1"""
    ),
    ttl_column="Day",
)

# Span and resource attributes land in one list of (key, value) pairs; a value
# over the length limit is kept as '' so its key is still suggested.
OTEL_TRACES_ATTRIBUTES_MV_DDL = Statement(
    Template(
        """CREATE MATERIALIZED VIEW IF NOT EXISTS `$db`.otel_traces_attributes_mv
TO `$db`.otel_traces_attributes
AS SELECT
    toDate(Timestamp) AS Day,
    ServiceName,
    pair.1 AS Key,
    if(length(pair.2) <= """
        + str(MAX_VALUE_LENGTH)
        + """, pair.2, '') AS Value,
    toUInt64(count()) AS Spans
FROM `$db`.otel_traces
ARRAY JOIN arrayConcat(
    arrayZip(mapKeys(SpanAttributes), mapValues(SpanAttributes)),
    arrayZip(mapKeys(ResourceAttributes), mapValues(ResourceAttributes))
) AS pair
GROUP BY Day, ServiceName, Key, Value"""
    )
)


def _drop_whole_parts(table: str) -> Statement:
    return Statement(Template(f"ALTER TABLE `$db`.{table} MODIFY SETTING ttl_only_drop_parts = 1"))


# Tables created before retention classes: expire whole partitions, never rewrite parts.
TTL_ONLY_DROP_PARTS_DDL: tuple[Statement, ...] = tuple(
    _drop_whole_parts(t) for t in ("red_1m", "service_edges_1m", "audit_log")
)
