"""The revocation list a proxy holds: serials and identities it must refuse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.identity.peer_identity import PeerIdentity, TlsState


@dataclass(frozen=True, slots=True)
class RevocationList:
    version: int = 0
    serials: frozenset[str] = frozenset()
    identities: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RevocationList:
        return cls(version=int(data.get("version", 0)),
                   serials=frozenset(str(s).lower() for s in data.get("serials", ())),
                   identities=frozenset(str(i) for i in data.get("identities", ())))

    def refuses(self, state: TlsState) -> bool:
        return isinstance(state, PeerIdentity) and (
            state.serial in self.serials or state.spiffe_id in self.identities)
