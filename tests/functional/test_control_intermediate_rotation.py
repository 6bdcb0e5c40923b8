"""Switching the CA to a new intermediate while traffic flows: proxies renew onto it,
leaves of the old one keep verifying, no request fails; through the API and the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from control.api import control_plane_from_dir
from control.audit import AuditLog, MemoryAuditSink
from control.ca import CertificateAuthority
from control.mesh_config import parse_mesh_config
from meshlens.cli import main
from proxy.identity.mtls_listener import MtlsListener
from proxy.identity.tls_contexts import IdentityMaterial, client_context
from tests.identity_mesh import (
    TIMEOUT,
    IdentityMesh,
    frontend_backend_yaml,
    running_identity_mesh,
    wait_until,
)

RUN_ON_UVLOOP = True
FRONTEND = "spiffe://mesh.test/ns/default/sa/frontend"




@pytest.fixture
async def mesh() -> AsyncIterator[IdentityMesh]:
    async with running_identity_mesh(frontend_backend_yaml, ("frontend", "backend")) as mesh:
        yield mesh


class Load:
    """Requests through frontend -> backend in a loop; every failure kept with its reason."""

    def __init__(self, mesh: IdentityMesh) -> None:
        self.url = mesh.outbound_url("frontend") + "/items"
        self.done = 0
        self.failures: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            while not self._stop.is_set():
                try:
                    async with session.get(self.url, headers={"Host": "backend"}) as response:
                        if response.status != 200:
                            self.failures.append(f"{response.status} "
                                                 f"{response.headers.get('x-meshlens-reason')}")
                        await response.read()
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self.failures.append(repr(exc))
                self.done += 1
                await asyncio.sleep(0.002)

    def stop(self) -> None:
        self._stop.set()


def leaf_key_ids(mesh: IdentityMesh) -> set[str]:
    """The signing key of each sidecar's current leaf."""
    out = set()
    for sidecar in mesh.sidecars.values():
        identity = sidecar.identity.client.identity
        assert identity is not None
        out.add(identity.current.material.issuer_key_id)
    return out


async def test_rotation_under_load_moves_proxies_to_the_new_intermediate(mesh):
    ca = mesh.control.state.ca
    before = ca.signing_key_id
    assert leaf_key_ids(mesh) == {before}
    old_issued, old_key = ca.issue_with_key(FRONTEND)  # a leaf of the old intermediate
    load = Load(mesh)
    task = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(0.2)
        result = await mesh.admin().rotate_intermediate(reason="yearly rotation")
        assert result["key_id"] == ca.signing_key_id != before
        # the snapshot names the new signer: every sidecar renews within its spread
        await wait_until(lambda: leaf_key_ids(mesh) == {ca.signing_key_id})
        backend_inbound = mesh.sidecars["backend"]._inbound
        assert isinstance(backend_inbound, MtlsListener)
        backend_inbound.close_idle_connections()  # new handshakes, both sides new leaves
        done = load.done
        await wait_until(lambda: load.done > done + 20)
    finally:
        load.stop()
        await task
    assert load.failures == []
    assert load.done > 50
    assert all(s.identity.client.early_renewals == 1 for s in mesh.sidecars.values())
    # a connection made now is between the new leaves
    backend_inbound.close_idle_connections()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.get(
            load.url, headers={"Host": "backend"}) as response:
        assert response.status == 200
    frontend_leaf = mesh.sidecars["frontend"].identity.client.identity.current.material
    assert frontend_leaf.serial in {getattr(c.tls_state, "serial", "")
                                    for c in backend_inbound.connections}

    # the old intermediate's leaves still verify: the trust bundle did not change
    old = client_context(IdentityMaterial(old_issued.chain_pem, old_key,
                                          ca.trust_bundle_pem()))
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.get(
            f"https://127.0.0.1:{mesh.sidecars['backend'].inbound_port}/old",
            ssl=old) as response:
        assert (response.status, await response.text()) == (200, "hello /old")

    (event,) = [e for e in mesh.audit.events if e.action == "ca_rotation"]
    assert event.actor == "spiffe://mesh.test/ns/meshlens/sa/admin"
    assert event.reason == "yearly rotation"
    assert event.serial == result["serial"]
    assert json.loads(event.detail)["previous_serial"] == result["previous_serial"]


CLI_MESH = """
trust_domain: mesh.test
services:
  - name: frontend
    bootstrap_token: frontend-token
    versions: [{name: v1, endpoints: ["127.0.0.1:9"]}]
"""


async def test_cli_rotates_the_intermediate_of_a_control_plane_on_disk(tmp_path: Path,
                                                                       capsys):
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(CLI_MESH)
    audit = MemoryAuditSink()
    plane = control_plane_from_dir(parse_mesh_config(CLI_MESH), tmp_path / "control", port=0,
                                   audit=AuditLog([audit]))
    await plane.start()
    argv = ["certs", "rotate-intermediate", "--state-dir", str(tmp_path / "control"),
            "--mesh", str(mesh_file), "--control-url", plane.url, "--reason", "drill"]
    try:
        before = plane.state.ca.intermediate
        assert await asyncio.to_thread(main, argv) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["key_id"] == plane.state.ca.signing_key_id
        on_disk = CertificateAuthority.load_or_create(tmp_path / "control" / "ca", "mesh.test")
        assert on_disk.intermediate == plane.state.ca.intermediate != before
        assert [(e.action, e.reason) for e in audit.events] == [("ca_rotation", "drill")]

        # with the root key taken offline there is nothing to sign a new intermediate
        root_key = tmp_path / "control" / "ca" / "root-key.pem"
        root_key.rename(tmp_path / "offline-root-key.pem")
        assert await asyncio.to_thread(main, argv) == 1
        assert "409" in capsys.readouterr().err and "root key" in audit.events[-1].reason
        assert plane.state.ca.intermediate == on_disk.intermediate
    finally:
        await plane.stop()
