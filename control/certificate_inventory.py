"""Every certificate the CA issued, and the revocation list, with a version.

The version grows on every revocation, so a proxy watching the list can ask
"anything newer than N?". With a ``path`` the inventory is kept in a JSON file,
so ``meshlens certs list`` and a restarted control plane see the same state.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from control.ca import Clock, IssuedCertificate

CertStatus = Literal["valid", "expired", "revoked"]


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    spiffe_id: str
    serial: str  # lowercase hex
    not_after: str  # ISO 8601, UTC
    issued_at: str
    kind: str  # "issuance" or "renewal"


@dataclass(frozen=True, slots=True)
class InventoryRow:
    spiffe_id: str
    serial: str
    not_after: str
    status: CertStatus


class CertificateInventory:
    def __init__(self, path: Path | None = None, *, clock: Clock = time.time) -> None:
        self._path = path
        self._clock = clock
        self.records: list[CertificateRecord] = []
        self.revoked_serials: set[str] = set()
        self.revoked_identities: set[str] = set()
        self.version = 0
        if path is not None and path.exists():
            self._load(path)

    def add(self, issued: IssuedCertificate, kind: str) -> CertificateRecord:
        record = CertificateRecord(issued.spiffe_id, issued.serial_hex,
                                   issued.not_after.isoformat(),
                                   dt.datetime.fromtimestamp(self._clock(), dt.UTC).isoformat(),
                                   kind)
        self.records.append(record)
        self._save()
        return record

    def revoke(self, *, serial: str | None = None, identity: str | None = None) -> bool:
        """True when this changed the list (revoking twice is not a change)."""
        before = (len(self.revoked_serials), len(self.revoked_identities))
        if serial:
            self.revoked_serials.add(serial.lower())
        if identity:
            self.revoked_identities.add(identity)
        changed = before != (len(self.revoked_serials), len(self.revoked_identities))
        if changed:
            self.version += 1
            self._save()
        return changed

    def is_revoked(self, spiffe_id: str, serial: str) -> bool:
        return serial.lower() in self.revoked_serials or spiffe_id in self.revoked_identities

    def rows(self) -> list[InventoryRow]:
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        out = []
        for r in self.records:
            status: CertStatus = "valid"
            if self.is_revoked(r.spiffe_id, r.serial):
                status = "revoked"
            elif dt.datetime.fromisoformat(r.not_after) <= now:
                status = "expired"
            out.append(InventoryRow(r.spiffe_id, r.serial, r.not_after, status))
        return out

    def revocation_list(self) -> dict[str, Any]:
        return {"version": self.version, "serials": sorted(self.revoked_serials),
                "identities": sorted(self.revoked_identities)}

    def _save(self) -> None:
        if self._path is None:
            return
        data = {"records": [asdict(r) for r in self.records], **self.revocation_list()}
        tmp = self._path.with_name(self._path.name + ".tmp")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self._path)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.records = [CertificateRecord(**r) for r in data.get("records", [])]
        self.revoked_serials = set(data.get("serials", []))
        self.revoked_identities = set(data.get("identities", []))
        self.version = int(data.get("version", 0))
