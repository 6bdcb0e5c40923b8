"""mesh.yaml validation: the typed model, or every error with file, line and key."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from control.mesh_config import (
    MeshConfigError,
    MtlsMode,
    PolicyAction,
    parse_mesh_config,
    validate_command,
)

VALID = """\
trust_domain: mesh.test
mtls: permissive
default_policy: deny
services:
  - name: frontend
    versions: [{name: v1, endpoints: ["127.0.0.1:8001"]}]
  - name: catalog
    namespace: shop
    bootstrap_token: t
    versions:
      - {name: v1, endpoints: ["127.0.0.1:8002"]}
      - {name: v2, endpoints: ["[::1]:8003"]}
routes:
  - service: catalog
    weights: {v1: 90, v2: 10}
policies:
  - name: frontend-reads-catalog
    action: allow
    sources: [frontend]
    destinations: [catalog]
    methods: [get]
    paths: ["/items/*"]
slos:
  - {name: catalog-availability, service: catalog, objective: 99.9}
rollouts:
  - {service: catalog, baseline: v1, canary: v2, steps: [10, 50, 100]}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(MeshConfigError) as caught:
        parse_mesh_config(text)
    return list(caught.value.errors)


def test_a_valid_file_becomes_the_typed_model():
    config = parse_mesh_config(VALID)
    assert config.mtls is MtlsMode.PERMISSIVE and config.default_policy is PolicyAction.DENY
    catalog = config.service("catalog")
    assert catalog is not None and catalog.namespace == "shop"
    assert config.spiffe_id(catalog) == "spiffe://mesh.test/ns/shop/sa/catalog"
    assert catalog.endpoints == ("127.0.0.1:8002", "[::1]:8003")
    assert config.routes[0].weights == (("v1", 90), ("v2", 10))
    assert config.policies[0].methods == ("GET",)
    assert config.rollouts[0].canary == "v2" and config.slos[0].objective == 99.9
    assert config.admins == ("spiffe://mesh.test/ns/meshlens/sa/admin",)


def test_every_error_is_reported_with_line_and_key():
    text = VALID.replace("name: catalog\n", "name: Catalog\n", 1) \
        .replace("v2: 10", "v2: 120").replace('"127.0.0.1:8001"', '"nohost"') \
        .replace("destinations: [catalog]", "destinations: [ghost]") \
        .replace("canary: v2", "canary: v3")
    errors = errors_of(text)
    assert "mesh.yaml:6: services[0].versions[0].endpoints[0]: expected host:port, " \
           "got 'nohost'" in errors
    assert "mesh.yaml:7: services[1].name: expected a lowercase DNS label, " \
           "got 'Catalog'" in errors
    assert "mesh.yaml:15: routes[0].weights.v2: must be 0..100, got 120" in errors
    assert any(e.startswith("mesh.yaml:20: policies[0].destinations[0]: unknown service")
               for e in errors)
    assert len(errors) >= 5


def test_weights_must_sum_to_100_and_name_existing_versions():
    errors = errors_of(VALID.replace("{v1: 90, v2: 10}", "{v1: 80, v9: 10}"))
    assert "mesh.yaml:15: routes[0].weights.v9: service 'catalog' has no version 'v9'" in errors
    assert "mesh.yaml:15: routes[0].weights: must sum to 100, got 90" in errors


def test_missing_trust_domain_unknown_keys_and_duplicates():
    errors = errors_of("services:\n  - name: a\n    versions: []\n    colour: red\n"
                       "  - name: a\n    versions: [{name: v1}]\ntimeouts: 3\n")
    assert "mesh.yaml:1: trust_domain: required" in errors
    assert any(e.startswith("mesh.yaml:4: services[0].colour: unknown key") for e in errors)
    assert "mesh.yaml:5: services[1].name: duplicate service 'a'" in errors
    assert any(e.startswith("mesh.yaml:7: timeouts: unknown key") for e in errors)


def test_duplicate_yaml_keys_are_errors_not_silent_overrides():
    errors = errors_of("trust_domain: a.test\ntrust_domain: b.test\n")
    assert errors == ["mesh.yaml:2: trust_domain: duplicate key (the earlier value would be "
                      "silently lost)"]


def test_yaml_syntax_error_names_the_line():
    errors = errors_of("trust_domain: a\nservices: [\n")
    assert errors[0].startswith("mesh.yaml:3: invalid YAML")


def test_validate_command_exit_codes(tmp_path: Path):
    good, bad = tmp_path / "mesh.yaml", tmp_path / "bad.yaml"
    good.write_text(VALID)
    bad.write_text("trust_domain: UPPER\n")
    out, err = io.StringIO(), io.StringIO()
    assert validate_command(good, out, err) == 0
    assert "2 services, 1 routes, 1 policies, 1 SLOs, 1 rollouts" in out.getvalue()
    assert validate_command(bad, out, err) == 1
    assert "bad.yaml:1: trust_domain: expected a lowercase domain name" in err.getvalue()
    assert validate_command(tmp_path / "missing.yaml", out, err) == 1
