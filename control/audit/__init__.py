"""Audit of the identity lifecycle: events, and sinks for JSON lines and the store."""

from control.audit.events import AuditAction, AuditEvent, AuditLog, AuditSink, MemoryAuditSink
from control.audit.jsonl_sink import JsonLinesAuditSink, read_json_lines
from control.audit.storage_sink import StoreAuditSink, read_audit_events

__all__ = [
    "AuditAction",
    "AuditEvent",
    "AuditLog",
    "AuditSink",
    "JsonLinesAuditSink",
    "MemoryAuditSink",
    "StoreAuditSink",
    "read_audit_events",
    "read_json_lines",
]
