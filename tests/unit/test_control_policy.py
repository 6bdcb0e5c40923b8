"""The authorization evaluator: deny first, then allow, then the mesh default."""

from __future__ import annotations

from control.mesh_config import Policy, PolicyAction
from control.policy import Allowed, AuthzRequest, Denied, PolicyEvaluator

FRONT = "spiffe://mesh.test/ns/default/sa/frontend"
OPS = "spiffe://mesh.test/ns/ops/sa/ops"

POLICIES = (
    Policy(name="frontend-reads-catalog", action=PolicyAction.ALLOW, sources=("frontend",),
           destinations=("catalog",), methods=("GET",), paths=("/items/*",)),
    Policy(name="ops-everything", action=PolicyAction.ALLOW, sources=(OPS,)),
    Policy(name="no-admin", action=PolicyAction.DENY, sources=("*",), paths=("/admin/*",)),
)


def decide(source: str | None, method: str, path: str, default: PolicyAction,
           destination: str = "catalog") -> Allowed | Denied:
    return PolicyEvaluator(POLICIES, default).decide(AuthzRequest(source, destination, method,
                                                                  path))


def test_allow_by_source_destination_method_and_path():
    assert decide(FRONT, "GET", "/items/7?x=1", PolicyAction.DENY) == Allowed(
        "frontend-reads-catalog", "allowed by policy frontend-reads-catalog")


def test_no_match_falls_to_the_mesh_default_with_its_reason():
    denied = decide(FRONT, "POST", "/items/7", PolicyAction.DENY)
    assert isinstance(denied, Denied) and denied.policy == "mesh-default"
    assert "default is deny" in denied.reason
    assert isinstance(decide(FRONT, "POST", "/items/7", PolicyAction.ALLOW), Allowed)


def test_deny_wins_over_allow():
    assert decide(OPS, "GET", "/admin/x", PolicyAction.ALLOW) == Denied(
        "no-admin", "denied by policy no-admin")


def test_star_source_needs_an_identity_but_empty_sources_do_not():
    assert isinstance(decide(None, "GET", "/admin/x", PolicyAction.ALLOW), Allowed)
    assert decide(None, "GET", "/items/1", PolicyAction.DENY).policy == "mesh-default"


def test_destination_scopes_the_policy():
    result = decide(FRONT, "GET", "/items/1", PolicyAction.DENY, destination="billing")
    assert isinstance(result, Denied) and result.policy == "mesh-default"
