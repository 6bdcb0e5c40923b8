"""Two real sidecars on the mesh identity, wired to a real control plane.

app -> frontend sidecar (outbound, plain) == mTLS ==> backend sidecar (inbound) -> app.
The frontend learns its route to the backend from the config watch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from control.api import AdminClient, ControlPlane
from control.audit import AuditLog, MemoryAuditSink
from control.ca import CertificateAuthority
from control.mesh_config import MeshConfig, parse_mesh_config
from proxy import SidecarConfig
from proxy.control_client import ControlClient
from proxy.identity.mtls_listener import MtlsListener
from proxy.identity.sidecar_identity import IdentitySidecar, SidecarIdentity

RUN_ON_UVLOOP = True
TIMEOUT = aiohttp.ClientTimeout(total=5)


def mesh_yaml(backend_inbound: int, mtls: str = "strict") -> str:
    return f"""
trust_domain: mesh.test
mtls: {mtls}
services:
  - name: frontend
    bootstrap_token: front-token
    versions: [{{name: v1, endpoints: ["127.0.0.1:9"]}}]
  - name: backend
    bootstrap_token: back-token
    versions: [{{name: v1, endpoints: ["127.0.0.1:{backend_inbound}"]}}]
policies:
  - name: no-admin-from-frontend
    action: deny
    sources: [frontend]
    destinations: [backend]
    paths: ["/admin/*"]
"""


@dataclass
class Mesh:
    control: ControlPlane
    config: MeshConfig
    frontend: IdentitySidecar
    backend: IdentitySidecar
    audit: MemoryAuditSink

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.frontend.outbound_port}"


async def start_app() -> tuple[web.AppRunner, int]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.path}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


async def start_sidecar(plane: ControlPlane, service: str, token: str,
                        app_port: int) -> IdentitySidecar:
    config = SidecarConfig(service=service, version="v1", inbound_port=0,
                           outbound_port=0, admin_port=0, app_port=app_port)
    client = ControlClient(plane.url, f"spiffe://mesh.test/ns/default/sa/{service}",
                           bundle_pem=plane.state.ca.trust_bundle_pem(), token=token,
                           watch_timeout_s=1.0, retry_s=0.1)
    identity = SidecarIdentity(client, config)
    await identity.start()
    sidecar = IdentitySidecar(identity, span_exporter=InMemorySpanExporter())
    await sidecar.start()
    return sidecar


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    audit = MemoryAuditSink()
    plane = ControlPlane(parse_mesh_config(mesh_yaml(9)),
                         CertificateAuthority.create("mesh.test"), port=0, watch_timeout_s=1.0,
                         audit=AuditLog([audit]))
    await plane.start()
    runner, app_port = await start_app()
    backend = await start_sidecar(plane, "backend", "back-token", app_port)
    frontend = await start_sidecar(plane, "frontend", "front-token", 9)
    # the backend's address is known now: a config change, as a registry would make it
    config = parse_mesh_config(mesh_yaml(backend.inbound_port))
    plane.state.set_config(config)
    try:
        await wait_until(lambda: frontend.identity.applied_version == 2
                         and backend.identity.applied_version == 2)
        yield Mesh(plane, config, frontend, backend, audit)
    finally:
        for sidecar in (frontend, backend):
            await sidecar.stop()
            await sidecar.identity.stop()
        await plane.stop()
        await runner.cleanup()


async def get(session: aiohttp.ClientSession, mesh: Mesh, path: str) -> tuple[int, str, str]:
    async with session.get(mesh.url + path, headers={"Host": "backend"}) as response:
        return (response.status, await response.text(),
                response.headers.get("x-meshlens-policy", ""))


async def wait_until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_request_crosses_the_mesh_over_mtls(mesh: Mesh):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        assert await get(session, mesh, "/items") == (200, "hello /items", "")
    inbound = mesh.backend._inbound
    assert inbound is not None and inbound.accepted >= 1
    states = {str(getattr(c, "tls_state", None)) for c in inbound.connections}
    assert any("spiffe://mesh.test/ns/default/sa/frontend" in s for s in states)


async def test_policy_from_mesh_yaml_denies_with_403_and_its_name(mesh: Mesh):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        assert await get(session, mesh, "/admin/users") == (
            403, "denied by policy no-admin-from-frontend\n", "no-admin-from-frontend")
    await wait_until(lambda: any(e.action == "request_denied" for e in mesh.audit.events))
    denied = next(e for e in mesh.audit.events if e.action == "request_denied")
    assert denied.actor == "spiffe://mesh.test/ns/default/sa/backend"  # who reported it
    assert denied.identity == "spiffe://mesh.test/ns/default/sa/frontend"
    assert denied.reason.startswith("no-admin-from-frontend:")
    assert '"path": "/admin/users"' in denied.detail


class Load:
    """Clients calling /items through the frontend sidecar until stopped."""

    def __init__(self, mesh: Mesh, clients: int, pause_s: float = 0.0) -> None:
        self.failures: list[str] = []
        self.done = 0
        self._mesh, self._pause_s = mesh, pause_s
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._client()) for _ in range(clients)]

    async def _client(self) -> None:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            while not self._stop.is_set():
                try:
                    status, _, _ = await get(session, self._mesh, "/items")
                    if status != 200:
                        self.failures.append(f"status {status}")
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self.failures.append(repr(exc))
                self.done += 1
                if self._pause_s:
                    await asyncio.sleep(self._pause_s)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def test_rotations_on_both_sidecars_under_load_fail_no_request(mesh: Mesh):
    load = Load(mesh, clients=3)
    try:
        for _ in range(10):
            await asyncio.sleep(0.03)
            await mesh.backend.identity.client.renew()
            await mesh.frontend.identity.client.renew()
            close_idle_inbound(mesh)  # so that new handshakes use the new certificates
        await asyncio.sleep(0.05)
    finally:
        await load.stop()
    assert load.failures == []
    assert load.done > 30
    assert mesh.backend.identity.client.renewals == 10
    inbound = mesh.backend._inbound
    assert inbound is not None
    close_idle_inbound(mesh)
    await asyncio.sleep(0.05)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        assert (await get(session, mesh, "/items"))[0] == 200
    newest = mesh.frontend.identity.client.identity.current.material.serial  # type: ignore
    assert newest in {getattr(c.tls_state, "serial", "") for c in inbound.connections
                      if hasattr(c, "tls_state")}


def close_idle_inbound(mesh: Mesh) -> None:
    """Close the backend's inbound connections that have no request in flight."""
    inbound = mesh.backend._inbound
    assert isinstance(inbound, MtlsListener)
    inbound.close_idle_connections()


async def test_control_plane_down_and_back_fails_no_request(mesh: Mesh):
    load = Load(mesh, clients=1, pause_s=0.005)
    port = mesh.control.port
    try:
        await asyncio.sleep(0.2)
        await mesh.control.stop()
        before = load.done
        await asyncio.sleep(1.0)  # watches fail and retry; traffic goes on
        assert load.done > before + 20
        restarted = ControlPlane(mesh.config, mesh.control.state.ca, port=port,
                                 inventory=mesh.control.state.inventory, watch_timeout_s=1.0)
        await restarted.start()
        mesh.control = restarted
        await mesh.frontend.identity.client.renew()
        await asyncio.sleep(0.2)
    finally:
        await load.stop()
    assert load.failures == []


async def test_revoked_frontend_is_refused_within_5_seconds(mesh: Mesh):
    ca = mesh.control.state.ca
    issued, key = ca.issue_with_key("spiffe://mesh.test/ns/meshlens/sa/admin")
    admin = AdminClient.with_identity(mesh.control.url, issued.chain_pem, key,
                                      ca.trust_bundle_pem())
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        assert (await get(session, mesh, "/items"))[0] == 200
        started = asyncio.get_running_loop().time()
        await admin.revoke(identity="spiffe://mesh.test/ns/default/sa/frontend")
        status = 200
        while status == 200:
            assert asyncio.get_running_loop().time() - started < 5, "still served after 5 s"
            await asyncio.sleep(0.05)
            status = (await get(session, mesh, "/items"))[0]
        assert status in (502, 503)  # the frontend sidecar cannot get through


async def test_plaintext_to_the_strict_inbound_sidecar_is_refused(mesh: Mesh):
    assert mesh.backend.identity.mode == "strict"  # from mesh.yaml, via the snapshot
    url = f"http://127.0.0.1:{mesh.backend.inbound_port}/items"
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        with pytest.raises((aiohttp.ClientError, OSError)):
            async with session.get(url) as response:
                await response.read()


async def test_permissive_mesh_lets_plaintext_through_to_the_app():
    plane = ControlPlane(parse_mesh_config(mesh_yaml(9, mtls="permissive")),
                         CertificateAuthority.create("mesh.test"), port=0)
    await plane.start()
    runner, app_port = await start_app()
    backend = await start_sidecar(plane, "backend", "back-token", app_port)
    try:
        assert backend.identity.mode == "permissive"
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.get(
                f"http://127.0.0.1:{backend.inbound_port}/items") as response:
            assert (response.status, await response.text()) == (200, "hello /items")
    finally:
        await backend.stop()
        await backend.identity.stop()
        await plane.stop()
        await runner.cleanup()
