"""One validation pass over a mesh.yaml: the typed model, or every error at once.

Errors read ``mesh.yaml:14: services[2].name: expected a lowercase DNS label``;
no value is ever quietly replaced by a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from control.mesh_config.field_checks import TRUST_DOMAIN, Checker
from control.mesh_config.located_yaml import KeyPath, load_located
from control.mesh_config.model import (
    MeshConfig,
    MeshRoute,
    MtlsMode,
    Policy,
    PolicyAction,
    RolloutSpec,
    Service,
    ServiceVersion,
    SloSpec,
)

_TOP = frozenset({"trust_domain", "mtls", "default_policy", "services", "routes", "policies",
                  "slos", "rollouts", "admins"})
_SERVICE = frozenset({"name", "namespace", "versions", "bootstrap_token", "bootstrap_token_file"})
_VERSION = frozenset({"name", "endpoints"})
_ROUTE = frozenset({"service", "host", "weights"})
_POLICY = frozenset({"name", "action", "sources", "destinations", "methods", "paths"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT",
                      "TRACE", "*"})


class MeshConfigError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("invalid mesh config:\n  " + "\n  ".join(self.errors))


def load_mesh_config(path: str | Path) -> MeshConfig:
    """Read, parse and validate ``path``; raises MeshConfigError with every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MeshConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    return parse_mesh_config(text, source=path.name)


def parse_mesh_config(text: str, source: str = "mesh.yaml") -> MeshConfig:
    try:
        doc = load_located(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise MeshConfigError([f"{source}{line}: invalid YAML: {exc}"]) from exc
    check = Checker(source, doc.index)
    for path, _line in doc.index.duplicates:
        check.add(path, "duplicate key (the earlier value would be silently lost)")
    config = _mesh(check, doc.data if doc.data is not None else {})
    if check.errors or config is None:
        raise MeshConfigError(check.errors)
    return config


def _mesh(check: Checker, raw: Any) -> MeshConfig | None:
    data = check.mapping(raw, (), _TOP)
    trust_domain = check.text(data, "trust_domain", (), required=True)
    if trust_domain and not TRUST_DOMAIN.match(trust_domain):
        check.add(("trust_domain",), f"expected a lowercase domain name, got {trust_domain!r}")
    services = _services(check, data)
    by_name = {s.name: s for s in services}
    routes = _routes(check, data, by_name)
    policies = _policies(check, data, by_name)
    slos = tuple(_slo(check, item, ("slos", i), by_name)
                 for i, item in enumerate(check.items(data, "slos", ())))
    rollouts = tuple(_rollout(check, item, ("rollouts", i), by_name)
                     for i, item in enumerate(check.items(data, "rollouts", ())))
    admins = check.strings(data, "admins", ())
    for i, admin in enumerate(admins):
        if not admin.startswith(f"spiffe://{trust_domain}/"):
            check.add(("admins", i), f"expected a SPIFFE ID in spiffe://{trust_domain}/")
    if check.errors:
        return None
    return MeshConfig(
        trust_domain=trust_domain,
        mtls=MtlsMode(check.choice(data, "mtls", (), tuple(m.value for m in MtlsMode), "strict")),
        default_policy=PolicyAction(check.choice(data, "default_policy", (), ("allow", "deny"),
                                                 "allow")),
        services=services, routes=routes, policies=policies, slos=slos, rollouts=rollouts,
        admins=admins or (f"spiffe://{trust_domain}/ns/meshlens/sa/admin",),
    )


def _services(check: Checker, data: Mapping[str, Any]) -> tuple[Service, ...]:
    out: list[Service] = []
    seen: set[str] = set()
    for i, raw in enumerate(check.items(data, "services", ())):
        path: KeyPath = ("services", i)
        item = check.mapping(raw, path, _SERVICE)
        name = check.name(item, "name", path, required=True)
        if name in seen:
            check.add((*path, "name"), f"duplicate service {name!r}")
        seen.add(name)
        versions: list[ServiceVersion] = []
        raw_versions = check.items(item, "versions", path)
        if not raw_versions and item:
            check.add((*path, "versions"), "required: at least one version")
        for j, raw_version in enumerate(raw_versions):
            vpath: KeyPath = (*path, "versions", j)
            version = check.mapping(raw_version, vpath, _VERSION)
            vname = check.name(version, "name", vpath, required=True)
            if any(v.name == vname for v in versions):
                check.add((*vpath, "name"), f"duplicate version {vname!r}")
            versions.append(ServiceVersion(name=vname,
                                           endpoints=check.endpoints(version, "endpoints", vpath)))
        token = item.get("bootstrap_token")
        token_file = item.get("bootstrap_token_file")
        for key, value in (("bootstrap_token", token), ("bootstrap_token_file", token_file)):
            if value is not None and (not isinstance(value, str) or not value):
                check.add((*path, key), f"expected a non-empty string, got {value!r}")
        out.append(Service(name=name, namespace=check.name(item, "namespace", path,
                                                            default="default"),
                           versions=tuple(versions), bootstrap_token=token or None,
                           bootstrap_token_file=token_file or None))
    return tuple(out)


def _routes(check: Checker, data: Mapping[str, Any],
            services: Mapping[str, Service]) -> tuple[MeshRoute, ...]:
    out: list[MeshRoute] = []
    for i, raw in enumerate(check.items(data, "routes", ())):
        path: KeyPath = ("routes", i)
        item = check.mapping(raw, path, _ROUTE)
        name = check.name(item, "service", path, required=True)
        service = services.get(name)
        if name and service is None:
            check.add((*path, "service"), f"unknown service {name!r}")
        weights: list[tuple[str, int]] = []
        raw_weights = item.get("weights", {})
        if not isinstance(raw_weights, Mapping):
            check.add((*path, "weights"), "expected a mapping of version: weight")
            raw_weights = {}
        for version, weight in raw_weights.items():
            wpath: KeyPath = (*path, "weights", str(version))
            if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
                check.add(wpath, f"must be 0..100, got {weight!r}")
                continue
            if service is not None and service.version(str(version)) is None:
                check.add(wpath, f"service {name!r} has no version {version!r}")
            weights.append((str(version), weight))
        if weights and sum(w for _, w in weights) != 100:
            check.add((*path, "weights"), f"must sum to 100, got {sum(w for _, w in weights)}")
        out.append(MeshRoute(service=name, host=check.text(item, "host", path, default=name),
                             weights=tuple(weights)))
    return tuple(out)


def _policies(check: Checker, data: Mapping[str, Any],
              services: Mapping[str, Service]) -> tuple[Policy, ...]:
    out: list[Policy] = []
    for i, raw in enumerate(check.items(data, "policies", ())):
        path: KeyPath = ("policies", i)
        item = check.mapping(raw, path, _POLICY)
        name = check.text(item, "name", path, required=True)
        if any(p.name == name for p in out):
            check.add((*path, "name"), f"duplicate policy {name!r}")
        destinations = check.strings(item, "destinations", path)
        for j, dest in enumerate(destinations):
            if dest != "*" and dest not in services:
                check.add((*path, "destinations", j), f"unknown service {dest!r}")
        sources = check.strings(item, "sources", path)
        for j, src in enumerate(sources):
            if src != "*" and not src.startswith("spiffe://") and src not in services:
                check.add((*path, "sources", j), f"expected a SPIFFE ID or service, got {src!r}")
        methods = tuple(m.upper() for m in check.strings(item, "methods", path))
        for j, method in enumerate(methods):
            if method not in _METHODS:
                check.add((*path, "methods", j), f"unknown HTTP method {method!r}")
        paths = check.strings(item, "paths", path)
        for j, p in enumerate(paths):
            if not p.startswith("/") and p != "*":
                check.add((*path, "paths", j), f"expected a path starting with /, got {p!r}")
        action = check.choice(item, "action", path, ("allow", "deny"), "deny")
        out.append(Policy(name=name, action=PolicyAction(action), sources=sources,
                          destinations=destinations, methods=methods, paths=paths))
    return tuple(out)


def _slo(check: Checker, raw: Any, path: KeyPath, services: Mapping[str, Service]) -> SloSpec:
    item = check.mapping(raw, path, frozenset({"name", "service", "objective", "indicator",
                                               "window", "threshold_ms"}))
    service = check.name(item, "service", path, required=True)
    if service and service not in services:
        check.add((*path, "service"), f"unknown service {service!r}")
    return SloSpec(name=check.text(item, "name", path, required=True), service=service,
                   objective=check.number(item, "objective", path, low=0, high=100,
                                          required=True),
                   raw=dict(item))


def _rollout(check: Checker, raw: Any, path: KeyPath,
             services: Mapping[str, Service]) -> RolloutSpec:
    item = check.mapping(raw, path, frozenset({"service", "baseline", "canary", "steps",
                                               "interval", "slos", "webhooks"}))
    name = check.name(item, "service", path, required=True)
    service = services.get(name)
    if name and service is None:
        check.add((*path, "service"), f"unknown service {name!r}")
    versions = {}
    for key in ("baseline", "canary"):
        versions[key] = check.name(item, key, path, required=True)
        if service is not None and versions[key] and service.version(versions[key]) is None:
            check.add((*path, key), f"service {name!r} has no version {versions[key]!r}")
    return RolloutSpec(service=name, baseline=versions["baseline"], canary=versions["canary"],
                       raw=dict(item))
