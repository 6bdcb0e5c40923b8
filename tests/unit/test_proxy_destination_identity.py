"""The identity a destination's endpoints must present: config, and what is expected."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from proxy.clock import SystemClock
from proxy.config import ConfigError, Endpoint, SidecarConfig, load_sidecar_config
from proxy.identity.upstream_identity import UpstreamIdentityCheck
from proxy.routing.destination import Destination

CATALOG = "spiffe://cluster.local/ns/shop/sa/catalog"


def config(destinations: list[dict[str, object]]) -> SidecarConfig:
    return SidecarConfig.from_mapping({"service": "frontend", "version": "v1", "app_port": 8080,
                                       "namespace": "web", "destinations": destinations})


def test_identity_is_read_kept_and_written_back() -> None:
    parsed = config([{"service": "catalog", "identity": CATALOG,
                      "endpoints": ["127.0.0.1:7001"]}])
    (destination,) = parsed.destinations
    assert destination.identity == CATALOG
    assert parsed.to_dict()["destinations"][0]["identity"] == CATALOG
    assert SidecarConfig.from_mapping(parsed.to_dict()) == parsed


def test_an_identity_that_is_no_spiffe_id_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sidecar.yaml"
    path.write_text("service: frontend\nversion: v1\napp_port: 8080\ndestinations:\n"
                    "  - service: catalog\n    identity: catalog.shop.svc\n"
                    "    endpoints: ['127.0.0.1:7001']\n")
    with pytest.raises(ConfigError) as caught:
        load_sidecar_config(path)
    assert list(caught.value.errors) == [
        f"{path}:6: destinations[0].identity: expected a SPIFFE ID like "
        "spiffe://cluster.local/ns/default/sa/catalog, got 'catalog.shop.svc'"]


def test_expected_identity_is_the_configured_one_else_derived_in_own_namespace() -> None:
    parsed = config([{"service": "catalog", "identity": CATALOG, "endpoints": ["127.0.0.1:7001"]},
                     {"service": "cart", "endpoints": ["127.0.0.1:7002"]}])
    destinations = {
        d.endpoints[0].address: Destination(d, SystemClock(), random.Random())
        for d in parsed.destinations}
    check = UpstreamIdentityCheck(lambda e: (destinations[e],) if e in destinations else (),
                                  trust_domain="cluster.local", namespace=parsed.namespace)
    assert check.expected_identity(Endpoint("127.0.0.1", 7001)) == CATALOG
    assert check.expected_identity(Endpoint("127.0.0.1", 7002)) == \
        "spiffe://cluster.local/ns/web/sa/cart"
    assert check.expected_identity(Endpoint("127.0.0.1", 7003)).startswith("none:")
