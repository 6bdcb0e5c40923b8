"""Audit events and the log that fans them out to its sinks.

Every issuance, renewal, revocation, CA rotation, config change and denied
request becomes one :class:`AuditEvent`: who did it, what, when, for which
identity and serial, and why. A sink failing never loses the event for the
other sinks.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from control.ca import Clock

log = logging.getLogger(__name__)
AuditAction = Literal["issuance", "renewal", "revocation", "config_change", "request_denied",
                      "csr_rejected", "ca_rotation"]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: dt.datetime
    actor: str  # who: a SPIFFE ID, "bootstrap-token:<service>", "cli", ...
    action: AuditAction
    identity: str = ""  # the identity concerned
    serial: str = ""
    reason: str = ""
    detail: str = ""  # free-form JSON text

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEvent:
        return cls(**{**data, "at": dt.datetime.fromisoformat(data["at"])})


class AuditSink(Protocol):
    def write(self, events: Sequence[AuditEvent]) -> None: ...


class MemoryAuditSink:
    """Keeps events in a list: for tests and for a control plane without storage."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def write(self, events: Sequence[AuditEvent]) -> None:
        self.events.extend(events)


class AuditLog:
    def __init__(self, sinks: Sequence[AuditSink] = (), *, clock: Clock = time.time) -> None:
        self.sinks = list(sinks)
        self._clock = clock

    def record(self, action: AuditAction, *, actor: str, identity: str = "", serial: str = "",
               reason: str = "", detail: str = "") -> AuditEvent:
        event = AuditEvent(dt.datetime.fromtimestamp(self._clock(), dt.UTC), actor, action,
                           identity, serial, reason, detail)
        for sink in self.sinks:
            try:
                sink.write([event])
            except Exception:
                log.exception("audit sink %r failed; event %s", sink, event.to_json())
        return event
