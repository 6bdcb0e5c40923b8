"""What one proxy needs from the mesh config, as a JSON-ready snapshot.

A snapshot holds the routes and destinations the proxy's app may call (every
service but itself, split by version weight, each destination with the SPIFFE ID
its endpoints must present), the policies that protect the proxy's own service,
the mesh default and the inbound mTLS mode. (The watch adds ``signing_ca``, the
intermediate signing now: it is the CA's, not the mesh config's.)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from control.ca.spiffe_id import SpiffeId
from control.mesh_config.model import MeshConfig, MeshRoute


def snapshot_for(config: MeshConfig, service: str) -> dict[str, Any]:
    """``routes`` and ``destinations`` are in the sidecar config's own shape
    (see proxy/routing/route_config.py and destination_config.py): one route per
    other service, split by version when it has several, and its endpoints
    labelled with their version."""
    routes: list[dict[str, Any]] = []
    destinations: list[dict[str, Any]] = []
    for target in config.services:
        if target.name == service:
            continue
        route_config = config.route_for(target.name)
        route: dict[str, Any] = {"host": route_config.host if route_config else target.name,
                                 "service": target.name}
        if len(target.versions) > 1:
            weights = dict(route_config.weights) if route_config and route_config.weights \
                else {target.versions[0].name: 100}
            route["split"] = [{"version": v.name, "weight": weights.get(v.name, 0)}
                              for v in target.versions]
        routes.append(route)
        destinations.append({
            "service": target.name,
            "identity": str(SpiffeId(config.trust_domain, target.namespace, target.name)),
            "endpoints": [{"address": e, "labels": {"version": v.name}}
                          for v in target.versions for e in v.endpoints]})
    policies = [
        {"name": p.name, "action": p.action.value, "sources": list(p.sources),
         "destinations": list(p.destinations), "methods": list(p.methods),
         "paths": list(p.paths)}
        for p in config.policies if not p.destinations or service in p.destinations
        or "*" in p.destinations]
    return {"service": service, "trust_domain": config.trust_domain, "mtls": config.mtls.value,
            "default_policy": config.default_policy.value, "routes": routes,
            "destinations": destinations, "policies": policies}


def with_weights(config: MeshConfig, service: str, weights: dict[str, int]) -> MeshConfig:
    """``config`` with ``service``'s route split set to ``weights`` (checked by the caller)."""
    pairs = tuple(sorted(weights.items()))
    routes = [replace(r, weights=pairs) if r.service == service else r for r in config.routes]
    if config.route_for(service) is None:
        routes.append(MeshRoute(service=service, host=service, weights=pairs))
    return replace(config, routes=tuple(routes))


def weights_problem(config: MeshConfig, service: str, weights: Any) -> str | None:
    target = config.service(service)
    if target is None:
        return f"unknown service {service!r}"
    if not isinstance(weights, dict) or not weights:
        return "expected {\"weights\": {version: percent, ...}}"
    for version, weight in weights.items():
        if target.version(str(version)) is None:
            return f"service {service!r} has no version {version!r}"
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            return f"weights.{version}: must be 0..100, got {weight!r}"
    if sum(weights.values()) != 100:
        return f"weights must sum to 100, got {sum(weights.values())}"
    return None
