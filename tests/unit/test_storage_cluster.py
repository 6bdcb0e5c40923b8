"""Cluster DDL: every table Replicated on each shard, a Distributed table over it,
views and ALTERs on the local tables, all ON CLUSTER."""

from __future__ import annotations

import re

import pytest

from storage.cluster import SHARDING_KEYS, cluster_statements
from storage.migrations import render_all
from storage.retention import RetentionConfig, remove_ttl_sql, retention_sql

CLUSTER = "meshlens_cluster"
DDL = render_all("mesh", RetentionConfig(7, 90, 365), CLUSTER)
TABLES = sorted(SHARDING_KEYS)
ENGINES = {
    "otel_traces": "ReplicatedMergeTree",
    "otel_traces_trace_id_ts": "ReplicatedMergeTree",
    "otel_traces_attributes": "ReplicatedAggregatingMergeTree",
    "red_1m": "ReplicatedAggregatingMergeTree",
    "service_edges_1m": "ReplicatedAggregatingMergeTree",
    "audit_log": "ReplicatedMergeTree",
    "schema_migrations": "ReplicatedReplacingMergeTree",
    "otel_metrics_gauge": "ReplicatedMergeTree",
    "otel_metrics_sum": "ReplicatedMergeTree",
    "otel_metrics_histogram": "ReplicatedMergeTree",
    "otel_metrics_exponential_histogram": "ReplicatedMergeTree",
    "otel_metrics_summary": "ReplicatedMergeTree",
    "otel_logs": "ReplicatedMergeTree",
}


def creating(name: str) -> str:
    [sql] = [s for s in DDL if re.match(rf"CREATE \w+( VIEW)? IF NOT EXISTS `mesh`\.{name} ", s)]
    return sql


def test_every_statement_runs_on_the_whole_cluster() -> None:
    assert DDL[0] == f"CREATE DATABASE IF NOT EXISTS `mesh` ON CLUSTER `{CLUSTER}`"
    for sql in DDL:
        assert f" ON CLUSTER `{CLUSTER}`" in sql.splitlines()[0], sql[:80]
        assert "non_replicated" not in sql


@pytest.mark.parametrize("table", TABLES)
def test_local_table_is_replicated_with_macros(table: str) -> None:
    sql = creating(f"{table}_local")
    path = f"/clickhouse/tables/{{shard}}/mesh/{table}_local"
    assert f") ENGINE = {ENGINES[table]}('{path}', '{{replica}}')\n" in sql


@pytest.mark.parametrize("table", TABLES)
def test_distributed_table_keeps_the_plain_name(table: str) -> None:
    sql = creating(table)
    assert f"AS `mesh`.{table}_local\n" in sql
    assert (
        f"ENGINE = Distributed('{CLUSTER}', 'mesh', '{table}_local', {SHARDING_KEYS[table]})" in sql
    )
    assert DDL.index(creating(f"{table}_local")) < DDL.index(sql)


def test_traces_shard_by_trace_id_and_keep_codecs_indexes_and_ttl() -> None:
    assert SHARDING_KEYS["otel_traces"] == SHARDING_KEYS["otel_traces_trace_id_ts"]
    local = creating("otel_traces_local")
    assert "INDEX idx_trace_id TraceId TYPE bloom_filter(0.001)" in local
    assert "Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))" in local
    assert "SETTINGS index_granularity = 2048" in local
    assert "TTL toDateTime(Timestamp) + toIntervalDay(7)" in local
    assert "TTL toDateTime(Minute) + toIntervalDay(90)" in creating("red_1m_local")
    assert "replicated_deduplication_window = 1000" in creating("red_1m_local")


@pytest.mark.parametrize(
    ("view", "target", "source"),
    [
        ("otel_traces_trace_id_ts_mv", "otel_traces_trace_id_ts_local", "otel_traces_local"),
        ("otel_traces_attributes_mv", "otel_traces_attributes_local", "otel_traces_local"),
    ],
)
def test_views_read_and_write_local_tables(view: str, target: str, source: str) -> None:
    sql = creating(view)
    assert f"\nTO `mesh`.{target}\n" in sql and f"\nFROM `mesh`.{source}\n" in sql


def test_alters_address_the_local_tables() -> None:
    alters = [s for s in DDL if s.startswith("ALTER")]
    # Views and the Distributed tables' column lists are the exceptions, tested below.
    of_data = [s for s in alters if " MODIFY QUERY " not in s and " ADD COLUMN " not in s]
    local = r"ALTER TABLE `mesh`\.\w+_local ON CLUSTER"
    assert of_data and all(re.match(local, s) for s in of_data)
    assert any("replicated_deduplication_window = 1000" in s for s in alters)


def test_a_view_query_change_keeps_the_view_name_and_reads_the_local_table() -> None:
    changes = [s for s in DDL if "MODIFY QUERY" in s]
    assert len(changes) == 2  # migrations 9 and 10
    view = f"ALTER TABLE `mesh`.otel_traces_trace_id_ts_mv ON CLUSTER `{CLUSTER}`"
    for sql in changes:
        assert sql.startswith(f"{view} MODIFY QUERY SELECT")
        assert "\nFROM `mesh`.otel_traces_local\n" in sql
    assert "AS SpanCount" in changes[1]


def test_a_column_added_reaches_the_local_and_the_distributed_table() -> None:
    added = [s for s in DDL if " ADD COLUMN IF NOT EXISTS ServiceOperations " in s]
    assert [s.split(" ADD COLUMN")[0] for s in added] == [
        f"ALTER TABLE `mesh`.otel_traces_trace_id_ts_local ON CLUSTER `{CLUSTER}`",
        f"ALTER TABLE `mesh`.otel_traces_trace_id_ts ON CLUSTER `{CLUSTER}`",
    ]


def test_summary_columns_reach_the_local_and_the_distributed_table() -> None:
    added = [s for s in DDL if " ADD COLUMN IF NOT EXISTS SpanCount " in s]
    assert [s.split(" ADD COLUMN")[0] for s in added] == [
        f"ALTER TABLE `mesh`.otel_traces_trace_id_ts_local ON CLUSTER `{CLUSTER}`",
        f"ALTER TABLE `mesh`.otel_traces_trace_id_ts ON CLUSTER `{CLUSTER}`",
    ]
    assert all(", ADD COLUMN IF NOT EXISTS Root Tuple(" in s for s in added)


def test_unknown_statements_and_names_are_refused() -> None:
    with pytest.raises(ValueError, match="no known kind"):
        cluster_statements("DROP TABLE `mesh`.otel_traces", CLUSTER)
    with pytest.raises(ValueError, match="no sharding key"):
        cluster_statements(
            "CREATE TABLE IF NOT EXISTS `mesh`.other (x UInt8) ENGINE = Log", CLUSTER
        )
    with pytest.raises(ValueError, match="cluster"):
        cluster_statements("CREATE DATABASE IF NOT EXISTS `mesh`", "a`; DROP")


def test_retention_alters() -> None:
    sql = retention_sql("mesh", RetentionConfig(spans_days=3, audit_days=400))
    assert sql == [
        "ALTER TABLE `mesh`.otel_traces MODIFY TTL toDateTime(Timestamp) + toIntervalDay(3)",
        "ALTER TABLE `mesh`.otel_traces_trace_id_ts "
        "MODIFY TTL toDateTime(Start) + toIntervalDay(3)",
        "ALTER TABLE `mesh`.otel_traces_attributes MODIFY TTL toDateTime(Day) + toIntervalDay(3)",
        "ALTER TABLE `mesh`.audit_log MODIFY TTL toDateTime(EventTime) + toIntervalDay(400)",
        *(
            f"ALTER TABLE `mesh`.otel_metrics_{kind} MODIFY TTL toDateTime(TimeUnix) + "
            "toIntervalDay(3)"
            for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary")
        ),
        "ALTER TABLE `mesh`.otel_logs MODIFY TTL toDateTime(TimestampTime) + toIntervalDay(3)",
    ]
    clustered = retention_sql(
        "mesh", RetentionConfig(aggregates_days=9), CLUSTER, local_suffix="_local"
    )
    assert clustered[0] == (
        f"ALTER TABLE `mesh`.red_1m_local ON CLUSTER `{CLUSTER}` "
        "MODIFY TTL toDateTime(Minute) + toIntervalDay(9)"
    )
    assert remove_ttl_sql("mesh", "aggregates") == [
        "ALTER TABLE `mesh`.red_1m REMOVE TTL",
        "ALTER TABLE `mesh`.service_edges_1m REMOVE TTL",
    ]
