"""Audit events into the ``audit_log`` table of the MeshLens store.

The Store has no audit methods yet, so this sink runs its SQL through the
store's serialized client (``Store._run``), the one lock every caller shares.
When storage grows ``write_audit``/``read_audit``, these two functions move there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from control.audit.events import AuditEvent
from storage import Store

COLUMNS = ("EventTime", "Actor", "Action", "Identity", "Serial", "Reason", "Detail")


class StoreAuditSink:
    def __init__(self, store: Store) -> None:
        self._store = store

    def write(self, events: Sequence[AuditEvent]) -> None:
        rows = [[e.at, e.actor, e.action, e.identity, e.serial, e.reason, e.detail]
                for e in events]
        table = f"`{self._store.database}`.audit_log"
        self._store._run(lambda c: c.insert(table, rows, column_names=list(COLUMNS)))


def read_audit_events(store: Store, *, limit: int = 100, action: str | None = None,
                      identity: str | None = None) -> list[AuditEvent]:
    """The newest events first, optionally of one action or identity."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if action:
        where.append("Action = {action:String}")
        params["action"] = action
    if identity:
        where.append("Identity = {identity:String}")
        params["identity"] = identity
    sql = (f"SELECT {', '.join(COLUMNS)} FROM `{store.database}`.audit_log "
           f"{'WHERE ' + ' AND '.join(where) if where else ''} "
           "ORDER BY EventTime DESC LIMIT {limit:UInt32}")
    rows = store._run(lambda c: list(c.query(sql, parameters=params).result_rows))
    return [AuditEvent(at=_utc(r[0]), actor=r[1], action=r[2], identity=r[3], serial=r[4],
                       reason=r[5], detail=r[6]) for r in rows]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
