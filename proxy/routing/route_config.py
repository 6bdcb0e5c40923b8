"""Route config: which requests go to which destination, and to which versions.

Routes are tried in config order; the first whose host and ``match`` fit wins::

    routes:
      - host: catalog                 # A/B: testers always see v2
        match:
          headers: {x-canary: always}   # a string is an exact match
        version: v2
      - host: catalog                 # canary: 80/20 by the endpoints' version label
        match:
          path: {prefix: /api/}       # exact | prefix | regex (full match)
          method: [GET, HEAD]
          headers: {x-user: {regex: "a.*"}, x-debug: {present: true}}
          cookies: {beta: {exact: "yes"}}
        split:
          - {version: v1, weight: 80}
          - {version: v2, weight: 20}
        service: catalog              # the destination (default: host)

A route may still carry its own ``endpoints`` list (round robin, no labels): the
short form for a destination that needs nothing else. Resilience blocks
(timeout, retry, ...) are read by :mod:`proxy.resilience.config`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.config_errors import AddProblem
from proxy.config_fields import MISSING, Fields
from proxy.resilience.config import POLICY_KEYS, RoutePolicy, parse_route_policy
from proxy.routing.destination_config import Endpoint, parse_endpoint

_HOST = re.compile(r"^[A-Za-z0-9_.-]+$|^\[[0-9A-Fa-f:.]+\]$")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_ROUTE_KEYS = frozenset({"host", "service", "endpoints", "match", "split", "version"})


@dataclass(frozen=True, slots=True, kw_only=True)
class StringMatch:
    """Exactly one of: ``exact``, ``prefix``, ``regex`` (full match), ``present``."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None
    present: bool | None = None  # headers and cookies: there (True) or not there (False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteMatch:
    path: StringMatch | None = None
    methods: tuple[str, ...] = ()
    headers: tuple[tuple[str, StringMatch], ...] = ()  # lowercase names
    cookies: tuple[tuple[str, StringMatch], ...] = ()

    @property
    def matches_everything(self) -> bool:
        return not (self.path or self.methods or self.headers or self.cookies)


@dataclass(frozen=True, slots=True)
class WeightedVersion:
    version: str
    weight: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Requests for ``host`` that fit ``match`` go to destination ``service``."""

    host: str
    service: str
    endpoints: tuple[str, ...] = ()  # short form of a destination (see module doc)
    match: RouteMatch = field(default_factory=RouteMatch)
    split: tuple[WeightedVersion, ...] = ()  # empty: every endpoint of the destination
    policy: RoutePolicy = field(default_factory=RoutePolicy)

    def parsed_endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for e in map(parse_endpoint, self.endpoints) if e is not None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"host": self.host, "service": self.service}
        if self.endpoints:
            out["endpoints"] = list(self.endpoints)
        if not self.match.matches_everything:
            out["match"] = _match_to_dict(self.match)
        if self.split:
            out["split"] = [{"version": s.version, "weight": s.weight} for s in self.split]
        out.update(self.policy.to_dict())
        return out


def parse_route(item: Any, where: str, add: AddProblem) -> Route | None:
    fields = Fields(item, where, add, _ROUTE_KEYS | POLICY_KEYS)
    if not fields.ok:
        return None
    host = fields.get("host")
    if not isinstance(host, str) or not _HOST.match(host):
        add(fields.path("host"), f"expected a host name, got {None if host is MISSING else host!r}")
        host = ""
    host = host.lower()
    service = fields.get("service", host)
    if not isinstance(service, str) or not _NAME.match(service or "-"):
        add(fields.path("service"), f"expected a lowercase DNS name, got {service!r}")
        service = host
    endpoints = fields.get("endpoints", None)
    if endpoints is not None:
        if not isinstance(endpoints, list) or not endpoints:
            add(fields.path("endpoints"), f"expected a non-empty list, got {endpoints!r}")
            endpoints = []
        for j, endpoint in enumerate(endpoints):
            if not isinstance(endpoint, str) or parse_endpoint(endpoint) is None:
                add(f"{fields.path('endpoints')}[{j}]", f"expected host:port, got {endpoint!r}")
    match = RouteMatch()
    if (block := fields.get("match")) is not MISSING:
        match = _parse_match(block, fields.path("match"), add)
    split = _parse_split(fields, add)
    return Route(host=host, service=service, endpoints=tuple(str(e) for e in endpoints or ()),
                 match=match, split=split, policy=parse_route_policy(fields.data, where, add))


def _parse_split(fields: Fields, add: AddProblem) -> tuple[WeightedVersion, ...]:
    version, split = fields.get("version"), fields.get("split")
    if version is not MISSING and split is not MISSING:
        add(fields.path("version"), "give either version or split, not both")
    if version is not MISSING:
        if not isinstance(version, str) or not version:
            add(fields.path("version"), f"expected a version label, got {version!r}")
            return ()
        return (WeightedVersion(version, 100),)
    if split is MISSING:
        return ()
    where = fields.path("split")
    if not isinstance(split, list) or not split:
        add(where, f"expected a non-empty list, got {split!r}")
        return ()
    out: list[WeightedVersion] = []
    for i, item in enumerate(split):
        entry = Fields(item, f"{where}[{i}]", add, ("version", "weight"))
        if not entry.ok:
            continue
        label = entry.text("version")
        weight = entry.integer("weight", -1, 0, 100) if "weight" in entry.data else -1
        if "weight" not in entry.data:
            add(entry.path("weight"), "required")
        if label is not None and any(s.version == label for s in out):
            add(entry.path("version"), f"duplicate version {label!r}")
        elif label is not None and weight >= 0:
            out.append(WeightedVersion(label, weight))
    total = sum(s.weight for s in out)
    if len(out) == len(split) and total != 100:
        add(where, f"weights must sum to 100, got {total}")
    return tuple(out)


def _parse_match(block: Any, where: str, add: AddProblem) -> RouteMatch:
    fields = Fields(block, where, add, ("path", "method", "headers", "cookies"))
    path = None
    if (value := fields.get("path")) is not MISSING:
        path = _string_match(value, fields.path("path"), add, ("exact", "prefix", "regex"))
    methods: tuple[str, ...] = ()
    if (value := fields.get("method")) is not MISSING:
        listed = value if isinstance(value, list) else [value]
        if not listed or not all(isinstance(m, str) and _TOKEN.match(m) for m in listed):
            add(fields.path("method"), f"expected a method or a list of methods, got {value!r}")
        else:
            methods = tuple(m.upper() for m in listed)
    return RouteMatch(path=path, methods=methods,
                      headers=_named_matches(fields, "headers", add),
                      cookies=_named_matches(fields, "cookies", add))


def _named_matches(fields: Fields, key: str, add: AddProblem
                   ) -> tuple[tuple[str, StringMatch], ...]:
    value = fields.get(key, {})
    if not isinstance(value, Mapping):
        add(fields.path(key), f"expected a mapping of name to match, got {value!r}")
        return ()
    out: list[tuple[str, StringMatch]] = []
    for name, spec in value.items():
        here = f"{fields.path(key)}.{name}"
        if not isinstance(name, str) or not _TOKEN.match(name):
            add(here, "expected a header or cookie name")
            continue
        kinds = ("exact", "prefix", "regex", "present")
        matcher = _string_match({"exact": spec} if isinstance(spec, str) else spec, here, add,
                                kinds)
        if matcher is not None:
            out.append((name.lower() if key == "headers" else name, matcher))
    return tuple(out)


def _string_match(value: Any, where: str, add: AddProblem,
                  kinds: tuple[str, ...]) -> StringMatch | None:
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in kinds:
        add(where, f"expected one of {'|'.join(kinds)}: VALUE, got {value!r}")
        return None
    ((kind, text),) = value.items()
    if kind == "present":
        if not isinstance(text, bool):
            add(f"{where}.present", f"expected true or false, got {text!r}")
            return None
        return StringMatch(present=text)
    if not isinstance(text, str) or (kind != "exact" and not text):
        add(f"{where}.{kind}", f"expected a string, got {text!r}")
        return None
    if kind == "regex":
        try:
            re.compile(text)
        except re.error as exc:
            add(f"{where}.regex", f"invalid regular expression: {exc}")
            return None
    if kind == "exact":
        return StringMatch(exact=text)
    return StringMatch(prefix=text) if kind == "prefix" else StringMatch(regex=text)


def _match_to_dict(match: RouteMatch) -> dict[str, Any]:
    def one(m: StringMatch) -> dict[str, Any]:
        return {k: getattr(m, k) for k in ("exact", "prefix", "regex", "present")
                if getattr(m, k) is not None}

    out: dict[str, Any] = {}
    if match.path is not None:
        out["path"] = one(match.path)
    if match.methods:
        out["method"] = list(match.methods)
    for key in ("headers", "cookies"):
        if pairs := getattr(match, key):
            out[key] = {name: one(m) for name, m in pairs}
    return out
