from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import (
    ConfigError,
    Endpoint,
    Route,
    SidecarConfig,
    load_sidecar_config,
    parse_endpoint,
)


def test_minimal_mapping_gets_defaults() -> None:
    config = SidecarConfig.from_mapping({"service": "catalog", "version": "v2", "app_port": 8080})
    assert config.inbound_port == 15006 and config.outbound_port == 15001
    assert config.admin_port == 15000 and config.namespace == "default"
    assert config.otlp_endpoint == "http://127.0.0.1:4318" and config.telemetry is True
    assert config.routes == ()


def test_routes_default_service_to_host(tmp_path: Path) -> None:
    path = tmp_path / "sidecar.yaml"
    path.write_text(
        "service: frontend\nversion: v1\napp_port: 8080\n"
        "routes:\n  - host: Catalog\n    endpoints: ['127.0.0.1:25006', '[::1]:25007']\n"
    )
    config = load_sidecar_config(path)
    assert config.routes == (Route(host="catalog", service="catalog",
                                   endpoints=("127.0.0.1:25006", "[::1]:25007")),)
    assert config.routes[0].parsed_endpoints() == (Endpoint("127.0.0.1", 25006),
                                                   Endpoint("::1", 25007))


def test_every_error_is_reported_with_its_key_path(tmp_path: Path) -> None:
    path = tmp_path / "sidecar.yaml"
    path.write_text(
        "service: Bad_Name\n"
        "app_port: 0\n"
        "inbound_port: 70000\n"
        "admin_port: 15001\n"
        "telemetry: yes please\n"
        "otlp_endpoint: localhost:4318\n"
        "colour: blue\n"
        "routes:\n"
        "  - host: catalog\n"
        "    endpoints: ['127.0.0.1:1']\n"
        "  - host: inventory\n"
        "    endpoints: ['abc', '127.0.0.1:99999']\n"
        "    weight: 3\n"
        "  - host: catalog\n"
        "    endpoints: []\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_sidecar_config(path)
    errors = caught.value.errors
    expected = [
        f"{path}:7: colour: unknown key",
        f"{path}:1: service: expected a lowercase DNS name, got 'Bad_Name'",
        f"{path}: version: required",
        f"{path}:2: app_port: expected a port 1..65535, got 0",
        f"{path}:3: inbound_port: expected a port 0..65535, got 70000",
        f"{path}:4: admin_port: port 15001 is already used by outbound_port",
        f"{path}:5: telemetry: expected true or false, got 'yes please'",
        f"{path}:6: otlp_endpoint: expected an http(s):// URL, got 'localhost:4318'",
        f"{path}:13: routes[1].weight: unknown key",
        f"{path}:12: routes[1].endpoints[0]: expected host:port, got 'abc'",
        f"{path}:12: routes[1].endpoints[1]: expected host:port, got '127.0.0.1:99999'",
        f"{path}:14: routes[2].host: unreachable: routes[0] already takes every request "
        "for 'catalog'",
        f"{path}:15: routes[2].endpoints: expected a non-empty list, got []",
    ]
    assert sorted(errors) == sorted(expected)
    assert str(caught.value).count("\n") == len(expected)


def test_not_a_mapping_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        SidecarConfig.from_mapping(["service"], source="x.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_sidecar_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("service: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_sidecar_config(bad)


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:80", Endpoint("127.0.0.1", 80)),
    ("catalog.default:15006", Endpoint("catalog.default", 15006)),
    ("[::1]:8080", Endpoint("::1", 8080)),
    ("abc", None), (":80", None), ("host:", None), ("host:0", None), ("host:65536", None),
    ("ho st:80", None), ("host:8o", None),
])
def test_parse_endpoint(text: str, expected: Endpoint | None) -> None:
    assert parse_endpoint(text) == expected
    if expected is not None:
        assert parse_endpoint(str(expected)) == expected


def test_config_is_frozen_and_dumps_to_plain_data() -> None:
    config = SidecarConfig.from_mapping({
        "service": "a", "version": "v1", "app_port": 1,
        "routes": [{"host": "b", "endpoints": ["127.0.0.1:2"]}],
    })
    with pytest.raises(AttributeError):
        config.service = "x"  # type: ignore[misc]
    assert config.to_dict()["routes"] == [
        {"host": "b", "service": "b", "endpoints": ["127.0.0.1:2"]}
    ]
    assert SidecarConfig.from_mapping(config.to_dict()) == config
