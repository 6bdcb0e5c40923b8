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
    if _check(rows, RED_COLUMN_NAMES) == 0:
        return
    client.insert(
        f"`{database}`.red_1m",
        [getattr(rows, name) for name in RED_COLUMN_NAMES],
        column_names=list(RED_COLUMN_NAMES),
        column_oriented=True,
        settings=dedup_settings(dedup_token),
    )


def insert_edges(
    client: Client, database: str, rows: EdgeColumns, dedup_token: str | None = None
) -> None:
    if _check(rows, EDGE_COLUMN_NAMES) == 0:
        return
    client.insert(
        f"`{database}`.service_edges_1m",
        [getattr(rows, name) for name in EDGE_COLUMN_NAMES],
        column_names=list(EDGE_COLUMN_NAMES),
        column_oriented=True,
        settings=dedup_settings(dedup_token),
    )
