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
        # each policy with the decision it makes (values: built once, not per request)
        self._deny = [(p, Denied(p.name, f"denied by policy {p.name}"))
                      for p in ordered if p.action is PolicyAction.DENY]
        self._allow = [(p, Allowed(p.name, f"allowed by policy {p.name}"))
                       for p in ordered if p.action is PolicyAction.ALLOW]
        self.default = default
        self._default: AuthzDecision = \
            Allowed(DEFAULT_POLICY_NAME, "no policy matched; mesh default is allow") \
            if default is PolicyAction.ALLOW else \
            Denied(DEFAULT_POLICY_NAME, "no policy matched; mesh default is deny")

    def decide(self, request: AuthzRequest) -> AuthzDecision:
        for policy, denied in self._deny:
            if policy_matches(policy, request):
                return denied
        for policy, allowed in self._allow:
            if policy_matches(policy, request):
                return allowed
        return self._default

    def for_caller(self, source: str | None, destination: str) -> CallerPolicies:
        """This evaluator narrowed to requests from ``source`` to ``destination``: the
        policies whose sources and destinations match them, in the same order. A caller
        keeps it for as long as this evaluator is in force."""
        def caller_matches(policy: Policy) -> bool:
            return (_source_matches(policy.sources, source)
                    and _matches_any(policy.destinations, destination))

        return CallerPolicies([d for d in self._deny if caller_matches(d[0])],
                              [a for a in self._allow if caller_matches(a[0])], self._default)


class CallerPolicies:
    """:meth:`PolicyEvaluator.decide` for one source and destination, from the method
    and path alone: ``decide(method, path)`` is the evaluator's decision on
    ``AuthzRequest(source, destination, method, path)``. ``fixed`` is that decision
    when no method or path can change it (the first policy that could decide matches
    every request), else None."""

    __slots__ = ("_allow", "_default", "_deny", "fixed")

    def __init__(self, deny: list[tuple[Policy, Denied]], allow: list[tuple[Policy, Allowed]],
                 default: AuthzDecision) -> None:
        self._deny = deny
        self._allow = allow
        self._default = default
        # decide tries the deny policies first: when the first one it tries matches
        # every method and path, it decides every request
        tried: list[tuple[Policy, AuthzDecision]] = [*deny, *allow]
        self.fixed: AuthzDecision | None = default
        if tried:
            self.fixed = tried[0][1] if _matches_every_call(tried[0][0]) else None

    def decide(self, method: str, path: str) -> AuthzDecision:
        for policy, denied in self._deny:
            if _call_matches(policy, method, path):
                return denied
        for policy, allowed in self._allow:
            if _call_matches(policy, method, path):
                return allowed
        return self._default


def policy_matches(policy: Policy, request: AuthzRequest) -> bool:
    return (_source_matches(policy.sources, request.source)
            and _matches_any(policy.destinations, request.destination)
            and _call_matches(policy, request.method, request.path))


def _call_matches(policy: Policy, method: str, path: str) -> bool:
    methods, paths = policy.methods, policy.paths
    return ((not methods or "*" in methods or method.upper() in methods)
            and (not paths or any(p == "*" or _path_matches(p, path) for p in paths)))


def _matches_every_call(policy: Policy) -> bool:
    return ((not policy.methods or "*" in policy.methods)
            and (not policy.paths or "*" in policy.paths))


def _source_matches(sources: tuple[str, ...], source: str | None) -> bool:
    if not sources:
        return True
    if source is None:
        return False
    service = source.rsplit("/sa/", 1)[-1] if "/sa/" in source else None
    return any(s in ("*", source) or s == service for s in sources)


def _matches_any(values: tuple[str, ...], value: str) -> bool:
    return not values or "*" in values or value in values


def _path_matches(pattern: str, path: str) -> bool:
    path = path.split("?", 1)[0]
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern
