"""Versioned schema migrations, recorded in `schema_migrations`.

Every statement is idempotent (IF NOT EXISTS), so a migration interrupted half
way, or run by two processes at once, is simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from clickhouse_connect.driver.client import Client

from storage import (
    schema,
    schema_attributes,
    schema_logs,
    schema_metrics,
    schema_span_metrics,
)
from storage.cluster import render_cluster_ddl
from storage.retention import RetentionConfig
from storage.schema import Statement


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[Statement, ...]

    def render(
        self,
        database: str,
        retention: RetentionConfig | None = None,
        cluster: str | None = None,
    ) -> list[str]:
        """The SQL to run, for one node or (with `cluster`) for every node of a cluster."""
        retention = retention or RetentionConfig()
        sql = [schema.render(s, database, retention.days_for(s.retention)) for s in self.statements]
        return render_cluster_ddl(sql, cluster) if cluster else sql


# control/ (issue #4): who did what to which identity, and why; read by `meshlens audit`.
AUDIT_LOG_DDL = Statement(
    Template(
        """CREATE TABLE IF NOT EXISTS `$db`.audit_log (
    EventTime DateTime64(3) CODEC(Delta(8), ZSTD(1)),
    Actor String CODEC(ZSTD(1)),
    Action LowCardinality(String),
    Identity String CODEC(ZSTD(1)),
    Serial String CODEC(ZSTD(1)),
    Reason String CODEC(ZSTD(1)),
    Detail String CODEC(ZSTD(1))
) ENGINE = MergeTree
PARTITION BY toYYYYMM(EventTime)
ORDER BY (Action, EventTime)
${ttl}"""
    ),
    ttl_column="EventTime",
    retention="audit",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "otel_traces", (schema.OTEL_TRACES_DDL,)),
    Migration(
        2,
        "otel_traces_trace_id_ts",
        (schema.OTEL_TRACES_TRACE_ID_TS_DDL, schema.OTEL_TRACES_TRACE_ID_TS_MV_DDL),
    ),
    Migration(
        3,
        "red_1m, service_edges_1m, insert deduplication",
        (
            schema_span_metrics.RED_1M_DDL,
            schema_span_metrics.SERVICE_EDGES_1M_DDL,
            schema_span_metrics.OTEL_TRACES_DEDUP_DDL,
            schema_span_metrics.OTEL_TRACES_TRACE_ID_TS_DEDUP_DDL,
        ),
    ),
    # control/ (issue #4): identity lifecycle and denied requests, written by control.audit
    Migration(4, "audit_log", (AUDIT_LOG_DDL,)),
    Migration(
        5,
        "otel_traces_attributes",
        (
            schema_attributes.OTEL_TRACES_ATTRIBUTES_DDL,
            schema_attributes.OTEL_TRACES_ATTRIBUTES_MV_DDL,
        ),
    ),
    Migration(
        6,
        "ttl_only_drop_parts on aggregates and audit_log",
        schema_attributes.TTL_ONLY_DROP_PARTS_DDL,
    ),
    # collector (issue #5): OTLP metrics and logs, shaped like the upstream exporter's tables
    Migration(7, "otel_metrics_*", schema_metrics.OTEL_METRICS_DDL),
    Migration(8, "otel_logs", (schema_logs.OTEL_LOGS_DDL,)),
    # issue #6: codecs and trace-id lookup chosen by measurement, for tables created
    # before migrations 1 and 2 had them (a no-op on a fresh install)
    Migration(
        9,
        "otel_traces codecs, otel_traces_trace_id_ts ServiceOperations",
        (
            schema.OTEL_TRACES_CODECS_DDL,
            schema.OTEL_TRACES_TRACE_ID_TS_OPERATIONS_DDL,
            schema.OTEL_TRACES_TRACE_ID_TS_MV_QUERY_V9_DDL,
        ),
    ),
    # issue #6: trace summaries for search results from the trace-id table, and
    # smaller compressed blocks there (new parts and merges)
    Migration(
        10,
        "otel_traces_trace_id_ts summary columns and block size",
        (
            schema.OTEL_TRACES_TRACE_ID_TS_SUMMARY_DDL,
            schema.OTEL_TRACES_TRACE_ID_TS_MV_QUERY_DDL,
            schema.OTEL_TRACES_TRACE_ID_TS_BLOCKS_DDL,
        ),
    ),
)

# Run on every open, before the migrations, so there is a table to record them in.
BOOTSTRAP: tuple[Statement, ...] = (schema.CREATE_DATABASE_DDL, schema.SCHEMA_MIGRATIONS_DDL)


def bootstrap_sql(database: str, cluster: str | None = None) -> list[str]:
    sql = [schema.render(statement, database) for statement in BOOTSTRAP]
    return render_cluster_ddl(sql, cluster) if cluster else sql


def render_all(
    database: str, retention: RetentionConfig | None = None, cluster: str | None = None
) -> list[str]:
    """Every statement of a fresh install, in order (`meshlens storage init --print`)."""
    return bootstrap_sql(database, cluster) + [
        sql for m in MIGRATIONS for sql in m.render(database, retention, cluster)
    ]


RECORD_SQL = (
    "INSERT INTO `{db}`.schema_migrations (version, name, applied_at) "
    "SELECT {{version:UInt32}}, {{name:String}}, now64(3)"
)


def applied_versions(client: Client, database: str) -> set[int]:
    rows = client.query(f"SELECT DISTINCT version FROM `{database}`.schema_migrations").result_rows
    return {int(row[0]) for row in rows}


def migrate(
    client: Client,
    database: str,
    retention: RetentionConfig | None = None,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    cluster: str | None = None,
) -> list[int]:
    """Apply pending migrations in version order; the versions applied now."""
    for sql in bootstrap_sql(database, cluster):
        client.command(sql)
    done = applied_versions(client, database)
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for sql in migration.render(database, retention, cluster):
            client.command(sql)
        client.command(
            RECORD_SQL.format(db=database),
            parameters={"version": migration.version, "name": migration.name},
        )
        applied.append(migration.version)
    return applied


def migration_status(
    client: Client, database: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[tuple[int, str, bool]]:
    """(version, name, applied) for every known migration, in version order."""
    done = applied_versions(client, database)
    return [
        (m.version, m.name, m.version in done) for m in sorted(migrations, key=lambda m: m.version)
    ]
