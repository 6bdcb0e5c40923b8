"""Span batches into `otel_traces`, one column-oriented insert per batch.

Every insert carries an `insert_deduplication_token` (a fresh one when the caller
gives none): with the tables' deduplication window, a batch written again with
the same token, e.g. replayed from the collector's spool, is stored once, in the
table and in the views fed by it.
"""

from __future__ import annotations

import uuid

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


def dedup_settings(token: str | None) -> dict[str, object]:
    """Insert settings that make a write idempotent under `token`."""
    return {
        # A fresh token when none is given: without one, two identical blocks
        # (same spans sent twice on purpose) would be deduplicated by content.
        "insert_deduplication_token": token or uuid.uuid4().hex,
        "deduplicate_blocks_in_dependent_materialized_views": 1,
    }


def insert_spans(
    client: Client, database: str, batch: SpanColumns, dedup_token: str | None = None
) -> None:
    if check_columns(batch) == 0:
        return
    client.insert(
        f"`{database}`.otel_traces",
        [getattr(batch, name) for name in _FIELDS],
        column_names=list(SPAN_COLUMN_NAMES),
        column_oriented=True,
        settings=dedup_settings(dedup_token),
    )
