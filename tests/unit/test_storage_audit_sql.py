"""The SQL of the audit_log read: filters as parameters, every bad field named."""

from __future__ import annotations

import pytest

from storage import AuditQuery
from storage.queries.audit import render_audit_sql

HOSTILE = "x' OR 1=1 --"


def test_newest_first_without_filters() -> None:
    sql, params = render_audit_sql("m", AuditQuery())
    assert sql == (
        "SELECT EventTime, Actor, Action, Identity, Serial, Reason, Detail\n"
        "FROM `m`.audit_log\n"
        "ORDER BY EventTime DESC\n"
        "LIMIT {limit:UInt32}"
    )
    assert params == {"limit": 100}


def test_every_filter_is_a_parameter() -> None:
    q = AuditQuery(limit=5, action="revocation", identity=HOSTILE, actor="cli",
                   start_s=10, end_s=20)
    sql, params = render_audit_sql("m", q)
    assert (
        "FROM `m`.audit_log\n"
        "WHERE Action = {action:String}\n"
        "  AND Identity = {identity:String}\n"
        "  AND Actor = {actor:String}\n"
        "  AND EventTime >= toDateTime64({start_s:UInt32}, 3)\n"
        "  AND EventTime < toDateTime64({end_s:UInt32}, 3)\n"
        "ORDER BY EventTime DESC"
    ) in sql
    assert HOSTILE not in sql
    assert params == {"limit": 5, "action": "revocation", "identity": HOSTILE, "actor": "cli",
                      "start_s": 10, "end_s": 20}


def test_bad_fields_are_named_together() -> None:
    with pytest.raises(ValueError, match=r"limit: must be 1\.\.10000, got 0.*start_s: expected"):
        render_audit_sql("m", AuditQuery(limit=0, start_s=-1))
    with pytest.raises(ValueError, match="end_s: 5 must be after start_s 9"):
        render_audit_sql("m", AuditQuery(start_s=9, end_s=5))
