"""Audit events in the store's audit_log table and in a JSON lines file."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from control.audit import (
    AuditLog,
    JsonLinesAuditSink,
    StoreAuditSink,
    read_audit_events,
    read_json_lines,
)
from storage import AuditQuery, AuditRecord, Store


def test_events_reach_audit_log_and_the_jsonl_file(chdb_store: Store, tmp_path: Path):
    identity = f"spiffe://mesh.test/ns/default/sa/svc-{uuid.uuid4().hex[:8]}"
    jsonl = tmp_path / "audit.jsonl"
    ticks = iter([1_790_000_000.0, 1_790_000_001.5])
    audit = AuditLog([StoreAuditSink(chdb_store), JsonLinesAuditSink(jsonl)],
                     clock=lambda: next(ticks))
    audit.record("issuance", actor="bootstrap-token:svc", identity=identity, serial="ab1",
                 reason="issuance")
    audit.record("revocation", actor="spiffe://mesh.test/ns/meshlens/sa/admin",
                 identity=identity, reason="key leaked")
    stored = read_audit_events(chdb_store, identity=identity)
    assert [(e.action, e.actor, e.reason) for e in stored] == [
        ("revocation", "spiffe://mesh.test/ns/meshlens/sa/admin", "key leaked"),
        ("issuance", "bootstrap-token:svc", "issuance")]
    assert stored[1].serial == "ab1"
    assert stored[1].at.timestamp() == 1_790_000_000.0 and stored[0].at.tzinfo is not None
    assert [e.action for e in read_json_lines(jsonl)] == ["issuance", "revocation"]
    only = read_audit_events(chdb_store, identity=identity, action="revocation")
    assert [e.reason for e in only] == ["key leaked"]


def test_a_failing_sink_does_not_lose_the_event_for_the_others(tmp_path: Path):
    class Broken:
        def write(self, events: object) -> None:
            raise OSError("disk full")

    jsonl = tmp_path / "audit.jsonl"
    AuditLog([Broken(), JsonLinesAuditSink(jsonl)]).record("request_denied", actor="x")
    assert [e.action for e in read_json_lines(jsonl)] == ["request_denied"]


def test_store_writes_audit_rows_and_filters_them_by_actor_and_time(chdb_store: Store):
    actor = f"spiffe://mesh.test/ns/meshlens/sa/admin-{uuid.uuid4().hex[:8]}"
    at = [dt.datetime.fromtimestamp(1_790_000_100 + i, dt.UTC) for i in range(3)]
    same = AuditRecord(at[1], actor, "request_denied", "spiffe://x", reason="deny-all")
    chdb_store.write_audit([AuditRecord(at[0], actor, "ca_rotation", "MeshLens intermediate",
                                        "1f", "drill", '{"config_version": 2}'), same])
    chdb_store.write_audit([same])  # the same denial twice is two events, both kept
    chdb_store.write_audit([])
    rows = chdb_store.audit_events(AuditQuery(actor=actor))
    assert [r.action for r in rows] == ["request_denied", "request_denied", "ca_rotation"]
    assert rows[-1] == AuditRecord(at[0], actor, "ca_rotation", "MeshLens intermediate", "1f",
                                   "drill", '{"config_version": 2}')
    window = AuditQuery(actor=actor, start_s=1_790_000_100, end_s=1_790_000_101, limit=5)
    assert [r.action for r in chdb_store.audit_events(window)] == ["ca_rotation"]
