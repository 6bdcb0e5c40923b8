"""Authorization: which source identity may call which service, method and path.

A pure evaluator over the mesh's policies. Deny policies are checked first, then
allow policies, then the mesh default. The result says which policy decided and
why, never just a bool:

- ``sources``: SPIFFE IDs, service names, or ``"*"`` (any authenticated peer);
  empty matches every caller, authenticated or not.
- ``destinations``: service names or ``"*"``; ``methods``: upper case;
  ``paths``: exact, or a prefix ending in ``*``. Empty lists match anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from control.mesh_config.model import Policy, PolicyAction

DEFAULT_POLICY_NAME = "mesh-default"


@dataclass(frozen=True, slots=True)
class Allowed:
    policy: str
    reason: str


@dataclass(frozen=True, slots=True)
class Denied:
    policy: str
    reason: str


AuthzDecision = Allowed | Denied


@dataclass(frozen=True, slots=True)
class AuthzRequest:
    source: str | None  # the peer's SPIFFE ID; None without an established identity
    destination: str  # the service being called
    method: str
    path: str


class PolicyEvaluator:
    def __init__(self, policies: Iterable[Policy], default: PolicyAction) -> None:
        ordered = list(policies)
        self._deny = [p for p in ordered if p.action is PolicyAction.DENY]
        self._allow = [p for p in ordered if p.action is PolicyAction.ALLOW]
        self.default = default

    def decide(self, request: AuthzRequest) -> AuthzDecision:
        for policy in self._deny:
            if policy_matches(policy, request):
                return Denied(policy.name, f"denied by policy {policy.name}")
        for policy in self._allow:
            if policy_matches(policy, request):
                return Allowed(policy.name, f"allowed by policy {policy.name}")
        if self.default is PolicyAction.ALLOW:
            return Allowed(DEFAULT_POLICY_NAME, "no policy matched; mesh default is allow")
        return Denied(DEFAULT_POLICY_NAME, "no policy matched; mesh default is deny")


def policy_matches(policy: Policy, request: AuthzRequest) -> bool:
    return (_source_matches(policy.sources, request.source)
            and _any(policy.destinations, lambda d: d == request.destination)
            and _any(policy.methods, lambda m: m == request.method.upper())
            and _any(policy.paths, lambda p: _path_matches(p, request.path)))


def _source_matches(sources: tuple[str, ...], source: str | None) -> bool:
    if not sources:
        return True
    if source is None:
        return False
    service = source.rsplit("/sa/", 1)[-1] if "/sa/" in source else None
    return any(s in ("*", source) or s == service for s in sources)


def _any(values: tuple[str, ...], test: object) -> bool:
    assert callable(test)
    return not values or any(v == "*" or test(v) for v in values)


def _path_matches(pattern: str, path: str) -> bool:
    path = path.split("?", 1)[0]
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern
