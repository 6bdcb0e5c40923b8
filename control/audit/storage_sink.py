"""Audit events into the ``audit_log`` table of the MeshLens store, and back.

The store knows the table (``Store.write_audit``, ``Store.audit_events``); this
module only maps :class:`AuditEvent` to and from its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from control.audit.events import AuditAction, AuditEvent
from storage import AuditQuery, AuditRecord, Store


class StoreAuditSink:
    def __init__(self, store: Store) -> None:
        self._store = store

    def write(self, events: Sequence[AuditEvent]) -> None:
        self._store.write_audit([AuditRecord(e.at, e.actor, e.action, e.identity, e.serial,
                                             e.reason, e.detail) for e in events])


def read_audit_events(store: Store, *, limit: int = 100, action: str | None = None,
                      identity: str | None = None) -> list[AuditEvent]:
    """The newest events first, optionally of one action or identity."""
    records = store.audit_events(AuditQuery(limit=limit, action=action or None,
                                            identity=identity or None))
    return [AuditEvent(at=r.at, actor=r.actor, action=cast(AuditAction, r.action),
                       identity=r.identity, serial=r.serial, reason=r.reason, detail=r.detail)
            for r in records]
