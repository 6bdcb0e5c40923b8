"""Metric points and log records into `otel_metrics_*` and `otel_logs`.

One column-oriented insert per table per batch. All inserts of a batch carry its
deduplication token (each table deduplicates on its own), so a batch replayed
from the collector's spool after a lost answer is stored once, whichever of its
inserts had landed.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from storage.columns import RowColumns
from storage.logs_model import LogColumns
from storage.metrics_model import MetricColumns
from storage.writer import dedup_settings


def insert_rows(
    client: Client, table: str, rows: RowColumns, dedup_token: str | None = None
) -> None:
    """One column-oriented insert of `rows` into `table`; no rows writes nothing."""
    if rows.check() == 0:
        return
    client.insert(
        table,
        rows.columns(),
        column_names=list(rows.column_names()),
        column_oriented=True,
        settings=dedup_settings(dedup_token),
    )


def insert_metrics(
    client: Client, database: str, batch: MetricColumns, dedup_token: str | None = None
) -> None:
    for table, points in batch.tables():
        insert_rows(client, f"`{database}`.{table}", points, dedup_token)


def insert_logs(
    client: Client, database: str, batch: LogColumns, dedup_token: str | None = None
) -> None:
    insert_rows(client, f"`{database}`.otel_logs", batch, dedup_token)
