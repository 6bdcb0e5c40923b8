"""Versioned schema migrations, recorded in `schema_migrations`.

Every statement is idempotent (IF NOT EXISTS), so a migration interrupted half
way, or run by two processes at once, is simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from clickhouse_connect.driver.client import Client

from storage import schema, schema_span_metrics
from storage.schema import Statement


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[Statement, ...]

    def render(self, database: str, ttl_days: int | None = None) -> list[str]:
        return [schema.render(s, database, ttl_days) for s in self.statements]


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
ORDER BY (Action, EventTime)"""
    )
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
)

# Run on every open, before the migrations, so there is a table to record them in.
BOOTSTRAP: tuple[Statement, ...] = (schema.CREATE_DATABASE_DDL, schema.SCHEMA_MIGRATIONS_DDL)

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
    ttl_days: int | None = None,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> list[int]:
    """Apply pending migrations in version order; the versions applied now."""
    for statement in BOOTSTRAP:
        client.command(schema.render(statement, database))
    done = applied_versions(client, database)
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for sql in migration.render(database, ttl_days):
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
