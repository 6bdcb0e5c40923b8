"""Every long-lived control part: stop before start, start -> stop -> start, stop twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import pytest

from control.api import ControlPlane
from control.ca import CertificateAuthority
from control.mesh_config import parse_mesh_config
from control.testing import TestCA
from proxy.control_client import ControlClient
from proxy.identity.mtls_listener import MtlsListener
from proxy.identity.rotation import IdentityContexts
from proxy.identity.tls_contexts import IdentityMaterial

MESH = """
trust_domain: mesh.test
services:
  - {name: a, bootstrap_token: t, versions: [{name: v1, endpoints: ["127.0.0.1:9"]}]}
"""


class Lifecycle(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def control_plane() -> tuple[Lifecycle, Callable[[], Awaitable[None]]]:
    plane = ControlPlane(parse_mesh_config(MESH), CertificateAuthority.create("mesh.test"),
                         port=0)

    async def nothing() -> None:
        return None
    return plane, nothing


async def control_client() -> tuple[Lifecycle, Callable[[], Awaitable[None]]]:
    plane = ControlPlane(parse_mesh_config(MESH), CertificateAuthority.create("mesh.test"),
                         port=0)
    await plane.start()
    client = ControlClient(plane.url, "spiffe://mesh.test/ns/default/sa/a",
                           bundle_pem=plane.state.ca.trust_bundle_pem(), token="t")
    return client, plane.stop


async def mtls_listener() -> tuple[Lifecycle, Callable[[], Awaitable[None]]]:
    issued = TestCA().identity("a")
    identity = IdentityContexts(IdentityMaterial(issued.chain_pem, issued.key_pem,
                                                 issued.bundle_pem))

    async def handler(exchange: object) -> None:
        return None

    async def nothing() -> None:
        return None
    return MtlsListener("inbound", handler, "127.0.0.1", 0, identity=identity), nothing


@pytest.mark.parametrize("make", [control_plane, control_client, mtls_listener])
async def test_start_stop_start_and_stop_twice(make):
    component, cleanup = await make()
    try:
        await component.stop()  # before start: nothing to do
        await component.start()
        await component.stop()
        await component.start()
        await component.stop()
        await component.stop()
    finally:
        await cleanup()
