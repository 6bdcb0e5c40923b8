"""The control plane API over real HTTPS with the mesh CA: bootstrap, renewal, watch,
weights, revocation, inventory, audit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from control.api import AdminClient, ControlPlane
from control.audit import AuditLog, MemoryAuditSink
from control.ca import CertificateAuthority
from control.mesh_config import MeshConfig, parse_mesh_config
from proxy.control_client import ControlClient, ControlPlaneError
from proxy.identity.csr import make_key_and_csr
from proxy.identity.tls_contexts import client_context

MESH = """
trust_domain: mesh.test
services:
  - name: frontend
    bootstrap_token: front-token
    versions: [{name: v1, endpoints: ["127.0.0.1:1001"]}]
  - name: catalog
    bootstrap_token: catalog-token
    versions:
      - {name: v1, endpoints: ["127.0.0.1:2001"]}
      - {name: v2, endpoints: ["127.0.0.1:2002"]}
routes:
  - service: catalog
    weights: {v1: 100, v2: 0}
"""
FRONTEND = "spiffe://mesh.test/ns/default/sa/frontend"


@pytest.fixture
def config() -> MeshConfig:
    return parse_mesh_config(MESH)


@pytest.fixture
def audit() -> MemoryAuditSink:
    return MemoryAuditSink()


@pytest.fixture
async def control(config: MeshConfig, audit: MemoryAuditSink) -> AsyncIterator[ControlPlane]:
    plane = ControlPlane(config, CertificateAuthority.create("mesh.test"), port=0,
                         audit=AuditLog([audit]), watch_timeout_s=2.0)
    await plane.start()
    yield plane
    await plane.stop()


def admin_of(plane: ControlPlane) -> AdminClient:
    issued, key = plane.state.ca.issue_with_key("spiffe://mesh.test/ns/meshlens/sa/admin")
    return AdminClient.with_identity(plane.url, issued.chain_pem, key,
                                     plane.state.ca.trust_bundle_pem())


async def post_csr(plane: ControlPlane, body: dict[str, Any]) -> tuple[int, str]:
    context = client_context(None, plane.state.ca.trust_bundle_pem())
    async with aiohttp.ClientSession() as session, session.post(
            f"{plane.url}/v1/certificates", json=body, ssl=context) as response:
        return response.status, await response.text()


async def started_client(plane: ControlPlane, **kwargs: Any) -> ControlClient:
    client = ControlClient(plane.url, FRONTEND, bundle_pem=plane.state.ca.trust_bundle_pem(),
                           token="front-token", watch_timeout_s=1.0, retry_s=0.2, **kwargs)
    await client.start()
    return client


async def test_bootstrap_gives_a_leaf_with_the_services_spiffe_id(control, audit):
    client = await started_client(control)
    try:
        material = client.identity.current.material
        assert material.spiffe_id == FRONTEND
        lifetime = material.not_after - material.not_before
        assert 23.9 * 3600 < lifetime.total_seconds() < 24.2 * 3600
        assert [e.action for e in audit.events] == ["issuance"]
        assert audit.events[0].serial == material.serial
    finally:
        await client.stop()


async def test_unknown_token_is_refused(control, audit):
    _key, csr = make_key_and_csr(FRONTEND)
    status, _ = await post_csr(control, {"csr": csr.decode(), "token": "guess"})
    assert status == 401
    assert audit.events[-1].action == "csr_rejected"


async def test_csr_for_another_identity_than_the_token_allows_is_refused(control):
    _key, csr = make_key_and_csr("spiffe://mesh.test/ns/default/sa/catalog")
    status, text = await post_csr(control, {"csr": csr.decode(), "token": "front-token"})
    assert status == 400 and "token allows" in text


async def test_renewal_over_mtls_swaps_to_a_new_serial(control, audit):
    client = await started_client(control)
    try:
        first = client.identity.current.material.serial
        await client.renew()
        assert client.identity.current.material.serial != first
        assert client.identity.current.material.spiffe_id == FRONTEND
        assert [e.action for e in audit.events] == ["issuance", "renewal"]
        assert audit.events[1].actor == FRONTEND
    finally:
        await client.stop()


async def test_watch_delivers_a_new_snapshot_after_a_weight_change(control, audit):
    seen: list[tuple[int, dict[str, Any]]] = []
    client = await started_client(control, on_snapshot=lambda v, s: seen.append((v, s)))
    try:
        await wait_for(lambda: seen)
        snapshot = seen[-1][1]
        assert [r["service"] for r in snapshot["routes"]] == ["catalog"]  # not itself
        assert snapshot["destinations"][0]["endpoints"] == [
            {"address": "127.0.0.1:2001", "labels": {"version": "v1"}},
            {"address": "127.0.0.1:2002", "labels": {"version": "v2"}}]
        await admin_of(control).set_weights("catalog", {"v1": 90, "v2": 10})
        await wait_for(lambda: len(seen) >= 2)
        assert seen[-1][0] > seen[0][0]
        assert seen[-1][1]["routes"][0]["split"] == [{"version": "v1", "weight": 90},
                                                     {"version": "v2", "weight": 10}]
        assert audit.events[-1].action == "config_change"
    finally:
        await client.stop()


async def test_bad_weights_are_refused_with_the_reason(control):
    with pytest.raises(RuntimeError, match="must sum to 100"):
        await admin_of(control).set_weights("catalog", {"v1": 90, "v2": 20})


async def test_watch_without_change_answers_304_after_the_timeout(control):
    client = await started_client(control)
    try:
        await wait_for(lambda: client.snapshot_version)
        started = time.monotonic()
        status, _ = await client._get("/v1/watch", {"version": str(client.snapshot_version),
                                                    "timeout": "0.3"})
        assert status == 304 and 0.25 < time.monotonic() - started < 2
    finally:
        await client.stop()


async def test_non_admin_cannot_revoke_list_or_rotate(control):
    client = await started_client(control)
    try:
        material = client.identity.current.material
        as_frontend = AdminClient.with_identity(control.url, material.chain_pem,
                                                material.key_pem, material.bundle_pem)
        with pytest.raises(RuntimeError, match="403"):
            await as_frontend.revoke(identity=FRONTEND)
        with pytest.raises(RuntimeError, match="403"):
            await as_frontend.certificates()
        intermediate = control.state.ca.intermediate
        with pytest.raises(RuntimeError, match="403"):
            await as_frontend.rotate_intermediate()
        assert control.state.ca.intermediate == intermediate
    finally:
        await client.stop()


async def test_revocation_reaches_the_proxy_and_blocks_renewal(control, audit):
    client = await started_client(control)
    try:
        serial = client.identity.current.material.serial
        started = time.monotonic()
        await admin_of(control).revoke(identity=FRONTEND, reason="key leaked")
        await wait_for(lambda: FRONTEND in client.identity.revocations.identities)
        assert time.monotonic() - started < 5
        with pytest.raises(ControlPlaneError, match="403"):
            await client.renew()
        rows = await admin_of(control).certificates()
        assert [(r["spiffe_id"], r["serial"], r["status"]) for r in rows] == [
            (FRONTEND, serial, "revoked")]
        revocation = next(e for e in audit.events if e.action == "revocation")
        assert (revocation.identity, revocation.reason) == (FRONTEND, "key leaked")
    finally:
        await client.stop()


async def wait_for(condition: Any, timeout: float = 4.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
