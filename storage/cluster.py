"""Cluster mode: the single-node DDL rewritten for a sharded, replicated ClickHouse.

For every table `t` the cluster has, on every node (`ON CLUSTER`):
- `t_local`, the same columns, indexes, codecs and TTL on the Replicated variant
  of its engine, its replication path keyed by the `{shard}` and `{replica}`
  macros each server defines (deploy/clickhouse/config.d/macros-*.xml);
- `t`, a Distributed table over the `t_local` of every shard. Readers and writers
  keep using the plain names, so every query in storage/queries runs unchanged.

Spans are sharded by TraceId, so a whole trace lives on one shard: trace by id
reads one shard, and each shard's materialized views see whole batches of
their traces. Materialized views read and write the local tables: an insert into
the Distributed `otel_traces` arrives on a shard's `otel_traces_local`, and its
views fire there.

The rewriting is done on the rendered single-node SQL, statement kind by
statement kind; a statement of no known kind is refused rather than run on one
node only.
"""

from __future__ import annotations

import re

from storage.schema import DATABASE_NAME

LOCAL_SUFFIX = "_local"

# How rows spread over shards when written through the Distributed table.
SHARDING_KEYS: dict[str, str] = {
    "otel_traces": "cityHash64(TraceId)",
    "otel_traces_trace_id_ts": "cityHash64(TraceId)",
    "otel_traces_attributes": "cityHash64(ServiceName, Key)",
    "red_1m": "cityHash64(ServiceName)",
    "service_edges_1m": "cityHash64(Client, Server)",
    "audit_log": "rand()",
    "schema_migrations": "rand()",
    # A series stays on one shard. Keys of the written rows, never rand(): a batch
    # replayed from the spool must reach the shard that deduplicates it.
    "otel_metrics_gauge": "cityHash64(ServiceName, MetricName)",
    "otel_metrics_sum": "cityHash64(ServiceName, MetricName)",
    "otel_metrics_histogram": "cityHash64(ServiceName, MetricName)",
    "otel_metrics_exponential_histogram": "cityHash64(ServiceName, MetricName)",
    "otel_metrics_summary": "cityHash64(ServiceName, MetricName)",
    "otel_logs": "cityHash64(ServiceName, TraceId)",
}

_CREATE_DATABASE = re.compile(r"^CREATE DATABASE IF NOT EXISTS `(\w+)`$")
_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS `(\w+)`\.(\w+) \(")
_ENGINE = re.compile(r"\) ENGINE = (MergeTree|AggregatingMergeTree|ReplacingMergeTree)\n")
_CREATE_VIEW = re.compile(
    r"^CREATE MATERIALIZED VIEW IF NOT EXISTS `(\w+)`\.(\w+)\nTO `(\w+)`\.(\w+)\n"
)
_FROM = re.compile(r"\nFROM `(\w+)`\.(\w+)\n")
_ALTER = re.compile(r"^ALTER TABLE `(\w+)`\.(\w+) ")


def check_cluster_name(cluster: str) -> str:
    # Written into DDL, where ClickHouse takes no parameters.
    if not DATABASE_NAME.match(cluster):
        raise ValueError(f"cluster: must match {DATABASE_NAME.pattern}, got {cluster!r}")
    return cluster


def replication_path(database: str, table: str) -> str:
    return f"/clickhouse/tables/{{shard}}/{database}/{table}"


def cluster_statements(sql: str, cluster: str) -> list[str]:
    """The statements that do on every node of `cluster` what `sql` does on one."""
    check_cluster_name(cluster)
    on = f" ON CLUSTER `{cluster}`"
    if m := _CREATE_DATABASE.match(sql):
        return [sql + on]
    if m := _CREATE_TABLE.match(sql):
        return _table(sql, m, cluster)
    if m := _CREATE_VIEW.match(sql):
        database, view, target_db, target = m.groups()
        head = (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{database}`.{view}{on}\n"
            f"TO `{target_db}`.{target}{LOCAL_SUFFIX}\n"
        )
        return [head + _reading_local(sql[m.end() :], sql)]
    if m := _ALTER.match(sql):
        database, table = m.groups()
        rest = sql[m.end() :].replace(
            "non_replicated_deduplication_window", "replicated_deduplication_window"
        )
        if rest.startswith("MODIFY QUERY "):
            # A view keeps its name on every node and reads the local table, as created.
            return [f"ALTER TABLE `{database}`.{table}{on} {_reading_local(rest, sql)}"]
        local = f"ALTER TABLE `{database}`.{table}{LOCAL_SUFFIX}{on} {rest}"
        if rest.startswith("ADD COLUMN "):
            # The Distributed table has its own column list: add there too, or readers miss it.
            return [local, f"ALTER TABLE `{database}`.{table}{on} {rest}"]
        return [local]
    raise ValueError(f"cluster DDL: statement of no known kind: {sql[:80]!r}")


def _reading_local(body: str, sql: str) -> str:
    """A view's SELECT `body` reading the local table instead of the Distributed one."""
    body, found = _FROM.subn(lambda f: f"\nFROM `{f[1]}`.{f[2]}{LOCAL_SUFFIX}\n", body)
    if found != 1:
        raise ValueError(f"cluster DDL: a view must read one table: {sql[:80]!r}")
    return body


def _table(sql: str, m: re.Match[str], cluster: str) -> list[str]:
    database, table = m.groups()
    if table not in SHARDING_KEYS:
        raise ValueError(f"cluster DDL: no sharding key for table {table!r}")
    local = table + LOCAL_SUFFIX
    on = f" ON CLUSTER `{cluster}`"
    body = f"CREATE TABLE IF NOT EXISTS `{database}`.{local}{on} (" + sql[m.end() :]
    path = replication_path(database, local)

    def replicated(e: re.Match[str]) -> str:
        return f") ENGINE = Replicated{e[1]}('{path}', '{{replica}}')\n"

    body, found = _ENGINE.subn(replicated, body)
    if found != 1:
        raise ValueError(f"cluster DDL: no MergeTree engine found for {table!r}")
    # Replicated tables always deduplicate inserts; only the setting's name differs.
    body = body.replace("non_replicated_deduplication_window", "replicated_deduplication_window")
    distributed = (
        f"CREATE TABLE IF NOT EXISTS `{database}`.{table}{on} AS `{database}`.{local}\n"
        f"ENGINE = Distributed('{cluster}', '{database}', '{local}', {SHARDING_KEYS[table]})"
    )
    return [body, distributed]


def render_cluster_ddl(sql_statements: list[str], cluster: str) -> list[str]:
    """Every single-node statement, in order, as its cluster statements."""
    return [out for sql in sql_statements for out in cluster_statements(sql, cluster)]
