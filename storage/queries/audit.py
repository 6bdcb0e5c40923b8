"""The `audit_log` table: its rows, their insert, and the read `meshlens audit` runs.

control/ writes who did what to which identity, and why (issuance, renewal,
revocation, CA rotation, config change, denied request); this module knows the
table, not those meanings. The read is a SQL template checked by a unit test;
filters are query parameters, never text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from storage.writer import dedup_settings

AUDIT_COLUMNS = ("EventTime", "Actor", "Action", "Identity", "Serial", "Reason", "Detail")
MAX_AUDIT_LIMIT = 10_000

AUDIT_SQL = """SELECT {columns}
FROM `{db}`.audit_log{where}
ORDER BY EventTime DESC
LIMIT {{limit:UInt32}}"""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of `audit_log`; `at` is timezone-aware UTC when read back."""

    at: dt.datetime
    actor: str
    action: str
    identity: str = ""
    serial: str = ""
    reason: str = ""
    detail: str = ""  # free-form JSON text


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """The newest `limit` events; every field left None is not filtered on.

    Times are seconds since the epoch, `end_s` exclusive.
    """

    limit: int = 100
    action: str | None = None
    identity: str | None = None
    actor: str | None = None
    start_s: int | None = None
    end_s: int | None = None


_FILTERS = (
    ("action", "Action = {action:String}"),
    ("identity", "Identity = {identity:String}"),
    ("actor", "Actor = {actor:String}"),
    ("start_s", "EventTime >= toDateTime64({start_s:UInt32}, 3)"),
    ("end_s", "EventTime < toDateTime64({end_s:UInt32}, 3)"),
)


def validate(q: AuditQuery) -> None:
    """Every problem of `q` at once, each with its field."""
    problems = []
    if isinstance(q.limit, bool) or not isinstance(q.limit, int) \
            or not 1 <= q.limit <= MAX_AUDIT_LIMIT:
        problems.append(f"limit: must be 1..{MAX_AUDIT_LIMIT}, got {q.limit!r}")
    for name in ("start_s", "end_s"):
        value = getattr(q, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            problems.append(f"{name}: expected seconds since the epoch, got {value!r}")
    if not problems and q.start_s is not None and q.end_s is not None and q.end_s <= q.start_s:
        problems.append(f"end_s: {q.end_s} must be after start_s {q.start_s}")
    if problems:
        raise ValueError("invalid audit query: " + "; ".join(problems))


def render_audit_sql(database: str, q: AuditQuery) -> tuple[str, dict[str, object]]:
    validate(q)
    where: list[str] = []
    params: dict[str, object] = {"limit": q.limit}
    for name, condition in _FILTERS:
        value = getattr(q, name)
        if value is not None:
            where.append(condition)
            params[name] = value
    clause = "\nWHERE " + "\n  AND ".join(where) if where else ""
    return AUDIT_SQL.format(columns=", ".join(AUDIT_COLUMNS), db=database, where=clause), params


def fetch_audit_events(client: Client, database: str, q: AuditQuery) -> list[AuditRecord]:
    """Newest first."""
    sql, params = render_audit_sql(database, q)
    return [
        AuditRecord(_utc(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])
        for row in client.query(sql, parameters=params).result_rows
    ]


def insert_audit(
    client: Client, database: str, rows: Sequence[AuditRecord], dedup_token: str | None = None
) -> None:
    """One insert of `rows`; no rows writes nothing.

    Each insert gets its own deduplication token unless given one: two events that
    happen to be equal (the same denial twice in a millisecond) are both kept.
    """
    if not rows:
        return
    client.insert(
        f"`{database}`.audit_log",
        [[r.at, r.actor, r.action, r.identity, r.serial, r.reason, r.detail] for r in rows],
        column_names=list(AUDIT_COLUMNS),
        settings=dedup_settings(dedup_token),
    )


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
