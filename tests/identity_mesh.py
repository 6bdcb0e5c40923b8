"""Real sidecars on the mesh identity around a real control plane, for functional tests.

``running_identity_mesh(mesh_yaml, services)`` starts a control plane with a
fresh CA, one app, and an :class:`IdentitySidecar` per service in front of that
app, each with its own in-memory span exporter. ``mesh_yaml(ports)`` renders
the mesh from each service's inbound port: first with port 9 for all (the
sidecars do not exist yet), then, once they listen, with their real ports, as
a registry would update it; the mesh is handed over when every sidecar applied
that second snapshot. Every service's bootstrap token is ``<service>-token``.
``impostors`` are more sidecars, by name, each holding the identity of the
service it names (as a stolen token would give it), in ``ports`` too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from control.api import AdminClient, ControlPlane
from control.audit import AuditLog, MemoryAuditSink
from control.ca import CertificateAuthority
from control.mesh_config import MeshConfig, parse_mesh_config
from proxy import SidecarConfig
from proxy.control_client import ControlClient
from proxy.identity.sidecar_identity import IdentitySidecar, SidecarIdentity

TIMEOUT = aiohttp.ClientTimeout(total=5)
FRONTEND = "spiffe://mesh.test/ns/default/sa/frontend"  # frontend's identity in that mesh
MeshYaml = Callable[[Mapping[str, int]], str]
ADMIN_DENY = "no-admin-from-frontend"  # frontend may not call backend's /admin/*
ADMIN_DENY_POLICY = f"""policies:
  - name: {ADMIN_DENY}
    action: deny
    sources: [frontend]
    destinations: [backend]
    paths: ["/admin/*"]
"""


def frontend_backend_yaml(ports: Mapping[str, int], more: str = "") -> str:
    """The mesh of most identity tests: frontend and backend in `mesh.test`, each at
    its inbound port in `ports`, and `more` (services or policies) after them."""
    return f"""
trust_domain: mesh.test
services:
  - name: frontend
    bootstrap_token: frontend-token
    versions: [{{name: v1, endpoints: ["127.0.0.1:{ports['frontend']}"]}}]
  - name: backend
    bootstrap_token: backend-token
    versions: [{{name: v1, endpoints: ["127.0.0.1:{ports['backend']}"]}}]
""" + more


def admin_deny_yaml(ports: Mapping[str, int]) -> str:
    """frontend_backend_yaml with ADMIN_DENY_POLICY: frontend may not call /admin/*."""
    return frontend_backend_yaml(ports, ADMIN_DENY_POLICY)


@dataclass
class App:
    """The app behind every sidecar: answers ``hello <path>`` and keeps the paths."""

    runner: web.AppRunner
    port: int
    paths: list[str] = field(default_factory=list)


@dataclass
class IdentityMesh:
    control: ControlPlane
    config: MeshConfig
    app: App
    sidecars: dict[str, IdentitySidecar]
    spans: dict[str, InMemorySpanExporter]
    audit: MemoryAuditSink

    def outbound_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.sidecars[service].outbound_port}"

    def admin(self) -> AdminClient:
        ca = self.control.state.ca
        issued, key = ca.issue_with_key("spiffe://mesh.test/ns/meshlens/sa/admin")
        return AdminClient.with_identity(self.control.url, issued.chain_pem, key,
                                         ca.trust_bundle_pem())

    async def finished_spans(self, service: str) -> tuple[ReadableSpan, ...]:
        """The spans ``service``'s sidecar made so far (its export queue flushed)."""
        telemetry = self.sidecars[service].telemetry
        assert telemetry is not None
        await asyncio.to_thread(telemetry.force_flush)
        return self.spans[service].get_finished_spans()


async def start_app() -> App:
    app = App(web.AppRunner(web.Application()), 0)

    async def hello(request: web.Request) -> web.Response:
        app.paths.append(request.path)
        return web.Response(text=f"hello {request.path}")

    app.runner.app.router.add_get("/{tail:.*}", hello)
    await app.runner.setup()
    await web.TCPSite(app.runner, "127.0.0.1", 0).start()
    app.port = app.runner.addresses[0][1]
    return app


async def start_sidecar(plane: ControlPlane, service: str, token: str, app_port: int,
                        spans: InMemorySpanExporter | None = None) -> IdentitySidecar:
    config = SidecarConfig(service=service, version="v1", inbound_port=0,
                           outbound_port=0, admin_port=0, app_port=app_port)
    client = ControlClient(plane.url, f"spiffe://mesh.test/ns/default/sa/{service}",
                           bundle_pem=plane.state.ca.trust_bundle_pem(), token=token,
                           watch_timeout_s=1.0, retry_s=0.1, reissue_spread_s=0.3)
    identity = SidecarIdentity(client, config)
    await identity.start()
    sidecar = IdentitySidecar(identity, span_exporter=spans or InMemorySpanExporter())
    try:
        await sidecar.start()
    except BaseException:
        await identity.stop()
        raise
    return sidecar


async def stop_sidecar(sidecar: IdentitySidecar) -> None:
    await sidecar.stop()
    await sidecar.identity.stop()


@asynccontextmanager
async def running_identity_mesh(mesh_yaml: MeshYaml, services: Sequence[str],
                                impostors: Mapping[str, str] | None = None
                                ) -> AsyncIterator[IdentityMesh]:
    identities = {**{s: s for s in services}, **(impostors or {})}
    audit = MemoryAuditSink()
    plane = ControlPlane(parse_mesh_config(mesh_yaml(dict.fromkeys(identities, 9))),
                         CertificateAuthority.create("mesh.test"), port=0, watch_timeout_s=1.0,
                         audit=AuditLog([audit]))
    await plane.start()
    app = await start_app()
    sidecars: dict[str, IdentitySidecar] = {}
    spans = {name: InMemorySpanExporter() for name in identities}
    try:
        for name, service in identities.items():
            sidecars[name] = await start_sidecar(plane, service, f"{service}-token",
                                                 app.port, spans[name])
        config = parse_mesh_config(mesh_yaml({n: s.inbound_port for n, s in sidecars.items()}))
        version = plane.state.set_config(config)
        await wait_until(lambda: all(s.identity.applied_version == version
                                     for s in sidecars.values()))
        yield IdentityMesh(plane, config, app, sidecars, spans, audit)
    finally:
        for sidecar in sidecars.values():
            await stop_sidecar(sidecar)
        await plane.stop()
        await app.runner.cleanup()


async def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
