"""Audit events appended to a JSON lines file, one event a line, flushed each time."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from control.audit.events import AuditEvent


class JsonLinesAuditSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, events: Sequence[AuditEvent]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(event.to_json(), sort_keys=True) + "\n")


def read_json_lines(path: Path) -> Iterator[AuditEvent]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as source:
        for line in source:
            if line.strip():
                yield AuditEvent.from_json(json.loads(line))
