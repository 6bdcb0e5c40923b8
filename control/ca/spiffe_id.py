"""SPIFFE IDs of workloads: ``spiffe://<trust-domain>/ns/<namespace>/sa/<service>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPIFFE = re.compile(r"^spiffe://([a-z0-9.-]+)/ns/([a-z0-9-]+)/sa/([a-z0-9-]+)$")


class SpiffeIdError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SpiffeId:
    trust_domain: str
    namespace: str
    service: str

    @classmethod
    def parse(cls, text: str) -> SpiffeId:
        match = _SPIFFE.match(text)
        if match is None:
            raise SpiffeIdError(f"not a workload SPIFFE ID: {text!r}")
        return cls(*match.groups())

    def __str__(self) -> str:
        return f"spiffe://{self.trust_domain}/ns/{self.namespace}/sa/{self.service}"
