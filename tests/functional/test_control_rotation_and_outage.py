"""Zero failed requests while certificates rotate and while the control plane is away.

A frontend client (with its own ControlClient identity) calls a backend's
MtlsListener (with its own) continuously over keep-alive and new connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from control.api import ControlPlane
from control.ca import CertificateAuthority
from control.mesh_config import MeshConfig, PolicyAction, parse_mesh_config
from control.policy import PolicyEvaluator
from proxy.accept import Exchange
from proxy.control_client import ControlClient
from proxy.identity.authz_gate import AuthorizingHandler
from proxy.identity.mtls_listener import MtlsListener

MESH = """
trust_domain: mesh.test
services:
  - name: frontend
    bootstrap_token: front-token
    versions: [{name: v1, endpoints: ["127.0.0.1:1001"]}]
  - name: backend
    bootstrap_token: back-token
    versions: [{name: v1, endpoints: ["127.0.0.1:2001"]}]
"""


async def ok(exchange: Exchange) -> None:
    exchange.respond(200, b"ok")


@dataclass
class Load:
    """Requests in a loop; every failure is kept with its reason."""

    port: int
    client: ControlClient
    done: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, fresh_connection_every: int = 3) -> None:
        url = f"https://127.0.0.1:{self.port}/"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            while not self._stop.is_set():
                assert self.client.identity is not None
                headers = {"Connection": "close"} if self.done % fresh_connection_every == 0 \
                    else {}
                try:
                    async with session.get(url, ssl=self.client.identity.current.client,
                                           headers=headers) as response:
                        if response.status != 200:
                            self.failures.append(f"status {response.status}")
                        await response.read()
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self.failures.append(repr(exc))
                self.done += 1
                await asyncio.sleep(0)

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def config() -> MeshConfig:
    return parse_mesh_config(MESH)


@pytest.fixture
async def control(config: MeshConfig, tmp_path) -> AsyncIterator[ControlPlane]:
    plane = ControlPlane(config, CertificateAuthority.create("mesh.test"), port=0,
                         watch_timeout_s=1.0)
    await plane.start()
    yield plane
    await plane.stop()


async def proxies(plane: ControlPlane) -> tuple[ControlClient, ControlClient, MtlsListener]:
    bundle = plane.state.ca.trust_bundle_pem()
    front = ControlClient(plane.url, "spiffe://mesh.test/ns/default/sa/frontend",
                          bundle_pem=bundle, token="front-token", watch_timeout_s=1.0,
                          retry_s=0.1)
    back = ControlClient(plane.url, "spiffe://mesh.test/ns/default/sa/backend",
                         bundle_pem=bundle, token="back-token", watch_timeout_s=1.0,
                         retry_s=0.1)
    await front.start()
    await back.start()
    assert back.identity is not None
    handler = AuthorizingHandler(ok, "backend", PolicyEvaluator((), PolicyAction.ALLOW),
                                 identity=back.identity)
    listener = MtlsListener("inbound", handler, "127.0.0.1", 0, identity=back.identity)
    await listener.start()
    return front, back, listener


async def test_ten_rotations_on_both_sides_under_load_fail_no_request(control):
    front, back, listener = await proxies(control)
    load = Load(listener.port, front)
    task = asyncio.create_task(load.run())
    try:
        serials = set()
        for _ in range(10):
            await asyncio.sleep(0.05)
            await back.renew()
            await front.renew()
            assert back.identity is not None
            serials.add(back.identity.current.material.serial)
        await asyncio.sleep(0.05)
    finally:
        load.stop()
        await task
        await listener.stop()
        await front.stop()
        await back.stop()
    assert len(serials) == 10
    assert load.failures == []
    assert load.done > 50
    assert listener.accepted > 10  # new connections were made across the rotations


async def test_control_plane_killed_and_restarted_while_traffic_flows(control, config):
    front, back, listener = await proxies(control)
    load = Load(listener.port, front)
    task = asyncio.create_task(load.run())
    port = control.port
    try:
        await asyncio.sleep(0.2)
        await control.stop()
        before = load.done
        await asyncio.sleep(1.0)  # watches and revocation polls fail and retry meanwhile
        assert load.done > before + 20
        restarted = ControlPlane(config, control.state.ca, port=port, watch_timeout_s=1.0,
                                 inventory=control.state.inventory)
        await restarted.start()
        try:
            await back.renew()  # the restarted plane serves the same mesh
            await asyncio.sleep(0.3)
        finally:
            await restarted.stop()
    finally:
        load.stop()
        await task
        with contextlib.suppress(Exception):
            await listener.stop()
        await front.stop()
        await back.stop()
    assert load.failures == []
