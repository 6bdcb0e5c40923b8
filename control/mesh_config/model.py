"""The typed mesh model: what a valid ``mesh.yaml`` becomes.

Every block is a frozen, slotted dataclass. SLOs and rollouts are carried as
typed shells with light checks; the analysis work gives them their full meaning.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class MtlsMode(enum.Enum):
    STRICT = "strict"  # plaintext to an inbound listener is refused
    PERMISSIVE = "permissive"  # TLS and plaintext both accepted, for migration
    DISABLED = "disabled"


class PolicyAction(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceVersion:
    name: str
    endpoints: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    name: str
    namespace: str = "default"
    versions: tuple[ServiceVersion, ...]
    bootstrap_token: str | None = None
    bootstrap_token_file: str | None = None

    def version(self, name: str) -> ServiceVersion | None:
        return next((v for v in self.versions if v.name == name), None)

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(e for v in self.versions for e in v.endpoints)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshRoute:
    """Traffic for ``host`` goes to ``service``, split across versions by weight (sum 100)."""

    service: str
    host: str
    weights: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Matches when every non-empty list matches; ``"*"`` in a list matches anything.

    ``sources`` hold SPIFFE IDs or service names; ``paths`` are exact or end in ``*``.
    """

    name: str
    action: PolicyAction
    sources: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SloSpec:
    name: str
    service: str
    objective: float
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutSpec:
    service: str
    baseline: str
    canary: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshConfig:
    trust_domain: str
    mtls: MtlsMode = MtlsMode.STRICT
    default_policy: PolicyAction = PolicyAction.ALLOW
    services: tuple[Service, ...] = ()
    routes: tuple[MeshRoute, ...] = ()
    policies: tuple[Policy, ...] = ()
    slos: tuple[SloSpec, ...] = ()
    rollouts: tuple[RolloutSpec, ...] = ()
    admins: tuple[str, ...] = ()

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def route_for(self, service: str) -> MeshRoute | None:
        return next((r for r in self.routes if r.service == service), None)

    def spiffe_id(self, service: Service) -> str:
        return f"spiffe://{self.trust_domain}/ns/{service.namespace}/sa/{service.name}"

    def summary(self) -> str:
        return (f"trust domain {self.trust_domain}, mtls {self.mtls.value}, default "
                f"{self.default_policy.value}: {len(self.services)} services, "
                f"{len(self.routes)} routes, {len(self.policies)} policies, "
                f"{len(self.slos)} SLOs, {len(self.rollouts)} rollouts")
