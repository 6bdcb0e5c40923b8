"""Attribute keys, and values of a key, for autocompletion: from `otel_traces_attributes`.

The table is kept by a materialized view (storage/schema_attributes.py), so these
read a few thousand pre-aggregated rows, never the spans. Most used first, so
the suggestions people pick are at the top.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

MAX_SUGGESTIONS = 1000

KEYS_SQL = """SELECT Key, sum(Spans) AS spans
FROM `{db}`.otel_traces_attributes
WHERE {where}
GROUP BY Key
ORDER BY spans DESC, Key
LIMIT {{limit:UInt32}}"""

VALUES_SQL = """SELECT Value, sum(Spans) AS spans
FROM `{db}`.otel_traces_attributes
WHERE {where}
GROUP BY Value
ORDER BY spans DESC, Value
LIMIT {{limit:UInt32}}"""


@dataclass(frozen=True, slots=True)
class AttributeSuggestion:
    """A key or value seen, and on how many spans (span and resource attributes)."""

    text: str
    spans: int


def _where(
    service: str | None, prefix: str, start_s: int | None, end_s: int | None, column: str
) -> tuple[list[str], dict[str, object]]:
    where: list[str] = []
    params: dict[str, object] = {}
    if service is not None:
        where.append("ServiceName = {service:String}")
        params["service"] = service
    if prefix:
        where.append(f"startsWith({column}, {{prefix:String}})")
        params["prefix"] = prefix
    # Rows are per day: a window covers the days it touches.
    if start_s is not None:
        where.append("Day >= toDate(toDateTime({start_s:UInt32}))")
        params["start_s"] = start_s
    if end_s is not None:
        where.append("Day <= toDate(toDateTime({end_s:UInt32}))")
        params["end_s"] = end_s
    return where, params


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not 1 <= limit <= MAX_SUGGESTIONS:
        raise ValueError(f"limit: must be 1..{MAX_SUGGESTIONS}, got {limit!r}")


def render_keys_sql(
    database: str,
    service: str | None = None,
    prefix: str = "",
    start_s: int | None = None,
    end_s: int | None = None,
    limit: int = 100,
) -> tuple[str, dict[str, object]]:
    _check_limit(limit)
    where, params = _where(service, prefix, start_s, end_s, "Key")
    params["limit"] = limit
    return KEYS_SQL.format(db=database, where=" AND ".join(where) or "1"), params


def render_values_sql(
    database: str,
    key: str,
    service: str | None = None,
    prefix: str = "",
    start_s: int | None = None,
    end_s: int | None = None,
    limit: int = 100,
) -> tuple[str, dict[str, object]]:
    _check_limit(limit)
    if not key:
        raise ValueError("key: must not be empty")
    where, params = _where(service, prefix, start_s, end_s, "Value")
    # '' stands for values too long to suggest (and for empty values): not a suggestion.
    where = ["Key = {key:String}", "Value != ''", *where]
    params.update(key=key, limit=limit)
    return VALUES_SQL.format(db=database, where=" AND ".join(where)), params


def _suggestions(client: Client, sql: str, params: dict[str, object]) -> list[AttributeSuggestion]:
    rows = client.query(sql, parameters=params).result_rows
    return [AttributeSuggestion(text=row[0], spans=int(row[1])) for row in rows]


@dataclass(frozen=True, slots=True)
class AttributeFilter:
    """Narrows suggestions: one service, a typed prefix, the days a window touches."""

    service: str | None = None
    prefix: str = ""
    start_s: int | None = None
    end_s: int | None = None
    limit: int = 100


def fetch_attribute_keys(
    client: Client, database: str, f: AttributeFilter
) -> list[AttributeSuggestion]:
    sql, params = render_keys_sql(database, f.service, f.prefix, f.start_s, f.end_s, f.limit)
    return _suggestions(client, sql, params)


def fetch_attribute_values(
    client: Client, database: str, key: str, f: AttributeFilter
) -> list[AttributeSuggestion]:
    sql, params = render_values_sql(database, key, f.service, f.prefix, f.start_s, f.end_s, f.limit)
    return _suggestions(client, sql, params)
