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


NARROWING_POLICIES = (
    *POLICIES,
    Policy(name="anyone-health", action=PolicyAction.ALLOW, methods=("GET",), paths=("/health",)),
    Policy(name="billing-all", action=PolicyAction.ALLOW, sources=("billing",),
           destinations=("*",), methods=("*",), paths=("*",)),
    Policy(name="no-deletes-on-catalog", action=PolicyAction.DENY, destinations=("catalog",),
           methods=("DELETE",)),
    Policy(name="stars-prefix", action=PolicyAction.DENY, sources=("frontend",),
           destinations=("billing",), paths=("**",)),
)
SOURCES = (None, FRONT, OPS, "spiffe://mesh.test/ns/default/sa/billing",
           "spiffe://other.test/ns/default/sa/frontend", "spiffe://mesh.test/ns/x/sa/nobody")
METHODS = ("GET", "get", "POST", "DELETE")
PATHS = ("/", "/items/7?x=1", "/items", "/admin/x", "/health", "/health?full=1", "**", "*x")


def test_narrowed_to_a_caller_it_decides_as_the_whole_evaluator():
    for default in PolicyAction:
        evaluator = PolicyEvaluator(NARROWING_POLICIES, default)
        for source in SOURCES:
            for destination in ("catalog", "billing"):
                caller = evaluator.for_caller(source, destination)
                for method in METHODS:
                    for path in PATHS:
                        whole = evaluator.decide(AuthzRequest(source, destination, method, path))
                        assert caller.decide(method, path) == whole, (source, destination,
                                                                      method, path)
                        assert caller.fixed in (None, whole)


def test_a_caller_whose_first_deciding_policy_looks_at_nothing_has_a_fixed_decision():
    evaluator = PolicyEvaluator((
        Policy(name="billing-all", action=PolicyAction.ALLOW, sources=("billing",),
               methods=("*",), paths=("*",)),
        Policy(name="no-admin", action=PolicyAction.DENY, sources=("frontend",),
               paths=("/admin/*",)),
        Policy(name="frontend-reads", action=PolicyAction.ALLOW, sources=("frontend",),
               methods=("GET",)),
    ), PolicyAction.DENY)
    billing = "spiffe://mesh.test/ns/default/sa/billing"
    assert evaluator.for_caller(billing, "catalog").fixed == Allowed(
        "billing-all", "allowed by policy billing-all")
    default = Denied("mesh-default", "no policy matched; mesh default is deny")
    assert evaluator.for_caller(OPS, "catalog").fixed == default
    assert evaluator.for_caller(None, "catalog").fixed == default
    # a deny looking at paths comes first: the frontend's calls depend on them
    assert evaluator.for_caller(FRONT, "catalog").fixed is None
