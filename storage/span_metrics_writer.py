"""RED and service graph rows into `red_1m` and `service_edges_1m`."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from storage.span_metrics_model import EDGE_COLUMN_NAMES, RED_COLUMN_NAMES, EdgeColumns, RedColumns
from storage.writer import dedup_settings


def _check(rows: RedColumns | EdgeColumns, names: tuple[str, ...]) -> int:
    expected = len(rows)
    for name in names:
        got = len(getattr(rows, name))
        if got != expected:
            raise ValueError(f"{type(rows).__name__}.{name}: has {got} values, expected {expected}")
    return expected


def insert_red(
    client: Client, database: str, rows: RedColumns, dedup_token: str | None = None
) -> None:
    _insert_columns(client, f"`{database}`.red_1m", rows, RED_COLUMN_NAMES, dedup_token)


def insert_edges(
    client: Client, database: str, rows: EdgeColumns, dedup_token: str | None = None
) -> None:
    _insert_columns(
        client, f"`{database}`.service_edges_1m", rows, EDGE_COLUMN_NAMES, dedup_token
    )


def _insert_columns(
    client: Client,
    table: str,
    rows: RedColumns | EdgeColumns,
    names: tuple[str, ...],
    dedup_token: str | None,
) -> None:
    """One column-oriented insert of `rows`, deduplicated by `dedup_token` on replays."""
    if _check(rows, names) == 0:
        return
    client.insert(
        table,
        [getattr(rows, name) for name in names],
        column_names=list(names),
        column_oriented=True,
        settings=dedup_settings(dedup_token),
    )
