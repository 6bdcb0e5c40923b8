"""Span batches into `otel_traces`, one column-oriented insert per batch."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from storage.model import SPAN_COLUMN_NAMES, SpanColumns

_FIELDS: tuple[str, ...] = SpanColumns.__slots__


def check_columns(batch: SpanColumns) -> int:
    """The batch's span count; ValueError naming the first column of another length.

    ClickHouse would reject a ragged batch too, but with a message that names no
    column; a decoder bug is found faster with the name.
    """
    expected = len(batch)
    for name in _FIELDS:
        got = len(getattr(batch, name))
        if got != expected:
            raise ValueError(
                f"SpanColumns.{name}: has {got} values, SpanColumns.SpanId has {expected}"
            )
    return expected


def insert_spans(client: Client, database: str, batch: SpanColumns) -> None:
    if check_columns(batch) == 0:
        return
    client.insert(
        f"`{database}`.otel_traces",
        [getattr(batch, name) for name in _FIELDS],
        column_names=list(SPAN_COLUMN_NAMES),
        column_oriented=True,
    )
