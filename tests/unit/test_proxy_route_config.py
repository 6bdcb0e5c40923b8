"""Routes and destinations in the sidecar YAML: the full schema, and every error
reported with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import ConfigError, Endpoint, SidecarConfig, load_sidecar_config
from proxy.config_errors import ConfigProblems, yaml_key_lines
from proxy.routing.destination_config import (
    HealthCheckConfig,
    LabeledEndpoint,
    OutlierDetectionConfig,
)
from proxy.routing.route_config import StringMatch, WeightedVersion

FULL = """\
service: frontend
version: v1
app_port: 8080
destinations:
  - service: catalog
    lb: ewma
    endpoints:
      - {address: "127.0.0.1:25006", labels: {version: v1}}
      - address: "127.0.0.1:25016"
        labels: {version: v2}
      - 127.0.0.1:25026
    health_check: {path: /healthz, interval: 5s, timeout: 500ms, unhealthy_threshold: 2}
    outlier_detection: {consecutive_5xx: 3, base_ejection_time: 10s, max_ejection_percent: 50}
routes:
  - host: catalog
    match:
      headers: {x-canary: always, X-User: {regex: "a.*"}, x-debug: {present: true}}
      cookies: {beta: {exact: "yes"}}
    version: v2
  - host: catalog
    match: {path: {prefix: /api/}, method: [get, HEAD]}
    split:
      - {version: v1, weight: 80}
      - {version: v2, weight: 20}
    timeout: {response: 2s}
  - host: catalog
  - host: inventory
    endpoints: ["127.0.0.1:25007"]
"""


def _load(tmp_path: Path, text: str) -> SidecarConfig:
    path = tmp_path / "sidecar.yaml"
    path.write_text(text)
    return load_sidecar_config(path)


def _errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    prefix = str(tmp_path / "sidecar.yaml")
    return [e.replace(prefix, "sidecar.yaml") for e in caught.value.errors]


def test_the_full_schema_reads_into_typed_config(tmp_path: Path) -> None:
    config = _load(tmp_path, FULL)
    (catalog,) = config.destinations
    assert catalog.lb == "ewma"
    assert catalog.endpoints == (
        LabeledEndpoint(Endpoint("127.0.0.1", 25006), (("version", "v1"),)),
        LabeledEndpoint(Endpoint("127.0.0.1", 25016), (("version", "v2"),)),
        LabeledEndpoint(Endpoint("127.0.0.1", 25026)),
    )
    assert catalog.health_check == HealthCheckConfig(path="/healthz", interval=5.0,
                                                     timeout=0.5, unhealthy_threshold=2)
    assert catalog.outlier_detection == OutlierDetectionConfig(
        consecutive_5xx=3, base_ejection_time=10.0, max_ejection_percent=50)
    ab, canary, rest, inventory = config.routes
    assert ab.match.headers == (("x-canary", StringMatch(exact="always")),
                                ("x-user", StringMatch(regex="a.*")),
                                ("x-debug", StringMatch(present=True)))
    assert ab.match.cookies == (("beta", StringMatch(exact="yes")),)
    assert ab.split == (WeightedVersion("v2", 100),)
    assert canary.match.path == StringMatch(prefix="/api/")
    assert canary.match.methods == ("GET", "HEAD")
    assert canary.split == (WeightedVersion("v1", 80), WeightedVersion("v2", 20))
    assert canary.policy.timeout is not None and canary.policy.timeout.response == 2.0
    assert rest.match.matches_everything and rest.service == "catalog"
    assert inventory.parsed_endpoints() == (Endpoint("127.0.0.1", 25007),)
    assert set(config.destinations_by_service()) == {"catalog", "inventory"}
    assert SidecarConfig.from_mapping(config.to_dict()) == config  # dumps round-trip


def test_split_and_match_errors_carry_their_yaml_line(tmp_path: Path) -> None:
    errors = _errors(tmp_path, """\
service: frontend
version: v1
app_port: 8080
destinations:
  - service: catalog
    lb: fastest
    endpoints:
      - {address: "127.0.0.1:1", labels: {version: v1}}
      - {address: "127.0.0.1:1", labels: {version: v2}}
    outlier_detection: {max_ejection_percent: 101, base_ejection_time: soon}
routes:
  - host: catalog
    split:
      - {version: v1, weight: 80}
      - {version: v2, weight: 120}
  - host: catalog
    match:
      path: {regex: "(unclosed"}
      headers: {x-a: {contains: b}}
    split:
      - {version: v1, weight: 70}
      - {version: v3, weight: 20}
  - host: nowhere
""")
    assert sorted(errors) == sorted([
        "sidecar.yaml:6: destinations[0].lb: must be one of round_robin|least_request|ewma,"
        " got 'fastest'",
        "sidecar.yaml:9: destinations[0].endpoints[1].address: duplicate endpoint 127.0.0.1:1",
        "sidecar.yaml:10: destinations[0].outlier_detection.base_ejection_time: expected a "
        "duration above 0s like '250ms' or '5s', got 'soon'",
        "sidecar.yaml:10: destinations[0].outlier_detection.max_ejection_percent: "
        "must be 0..100, got 101",
        "sidecar.yaml:15: routes[0].split[1].weight: must be 0..100, got 120",  # no sum error
        "sidecar.yaml:16: routes[1].host: unreachable: routes[0] already takes every request "
        "for 'catalog'",
        "sidecar.yaml:18: routes[1].match.path.regex: invalid regular expression: "
        "missing ), unterminated subpattern at position 0",
        "sidecar.yaml:19: routes[1].match.headers.x-a: expected one of "
        "exact|prefix|regex|present: VALUE, got {'contains': 'b'}",
        "sidecar.yaml:20: routes[1].split: weights must sum to 100, got 90",
        "sidecar.yaml:22: routes[1].split[1].version: no endpoint of 'catalog' has label "
        "version=v3",
        "sidecar.yaml:23: routes[2].service: no destination 'nowhere': add it under "
        "destinations or give the route endpoints",
    ])


def test_cross_checks_between_routes_and_destinations(tmp_path: Path) -> None:
    errors = _errors(tmp_path, """\
service: frontend
version: v1
app_port: 8080
destinations:
  - service: catalog
    endpoints: ["127.0.0.1:1"]
  - service: catalog
    endpoints: ["127.0.0.1:2"]
routes:
  - host: catalog
    version: v2
    split: [{version: v2, weight: 100}]
  - host: catalog
    endpoints: ["127.0.0.1:3"]
    split: [{version: v1, weight: 50}, {version: v1, weight: 50}]
  - host: other
    service: catalog
""")
    assert errors == [
        "sidecar.yaml:7: destinations[1].service: duplicate destination 'catalog'",
        "sidecar.yaml:11: routes[0].version: give either version or split, not both",
        "sidecar.yaml:15: routes[1].split[1].version: duplicate version 'v1'",
        "sidecar.yaml:11: routes[0].version: no endpoint of 'catalog' has label version=v2",
        "sidecar.yaml:13: routes[1].host: unreachable: routes[0] already takes every request "
        "for 'catalog'",
        "sidecar.yaml:14: routes[1].endpoints: destination 'catalog' is defined under "
        "destinations; drop the endpoints here",
        "sidecar.yaml:15: routes[1].split[0].version: no endpoint of 'catalog' has label "
        "version=v1",
    ]


def test_health_check_limits(tmp_path: Path) -> None:
    errors = _errors(tmp_path, """\
service: frontend
version: v1
app_port: 8080
destinations:
  - service: catalog
    endpoints: ["127.0.0.1:1"]
    health_check:
      path: healthz
      interval: 1s
      timeout: 2s
      healthy_threshold: 0
routes: [{host: catalog}]
""")
    assert errors == [
        "sidecar.yaml:8: destinations[0].health_check.path: must start with '/', got 'healthz'",
        "sidecar.yaml:11: destinations[0].health_check.healthy_threshold: must be 1..100, "
        "got 0",
        "sidecar.yaml:10: destinations[0].health_check.timeout: must not exceed interval (1s),"
        " got 2s",
    ]


def test_problems_without_a_line_of_their_own_take_the_parents() -> None:
    lines = yaml_key_lines("a:\n  b:\n    - x: 1\n    - y: 2\n")
    assert lines == {"a": 1, "a.b": 2, "a.b[0]": 3, "a.b[0].x": 3, "a.b[1]": 4,
                     "a.b[1].y": 4}
    problems = ConfigProblems("f.yaml", lines)
    problems.add("a.b[1].z", "required")
    problems.add("other", "unknown key")
    assert problems.items == ["f.yaml:4: a.b[1].z: required", "f.yaml: other: unknown key"]
