"""Outbound mTLS checks who answers: the peer's SPIFFE ID must be the destination's.

In the mesh below ``catalog``'s endpoint is an impostor: a second sidecar holding
backend's identity, so a caller of catalog meets a peer with a valid mesh
certificate (it chains to the CA) of the wrong service.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest

from control.testing import IssuedIdentity, TestCA
from proxy.clock import SystemClock
from proxy.config import DestinationConfig, Endpoint
from proxy.identity.tls_contexts import IdentityMaterial, client_context, server_context
from proxy.identity.upstream_identity import UpstreamIdentityCheck, UpstreamIdentityMismatch
from proxy.routing.destination import Destination
from proxy.routing.destination_config import LabeledEndpoint
from proxy.upstream_pool import UpstreamPool
from tests.identity_mesh import (
    TIMEOUT,
    IdentityMesh,
    frontend_backend_yaml,
    running_identity_mesh,
)

RUN_ON_UVLOOP = True
BACKEND = "spiffe://mesh.test/ns/default/sa/backend"
CATALOG = "spiffe://mesh.test/ns/shop/sa/catalog"



def mesh_yaml(ports: Mapping[str, int]) -> str:
    return frontend_backend_yaml(ports, f"""  - name: catalog
    namespace: shop
    versions: [{{name: v1, endpoints: ["127.0.0.1:{ports['impostor']}"]}}]
""")


@pytest.fixture
async def mesh() -> AsyncIterator[IdentityMesh]:
    async with running_identity_mesh(mesh_yaml, ("frontend", "backend"),
                                     impostors={"impostor": "backend"}) as mesh:
        yield mesh


async def get(mesh: IdentityMesh, host: str, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.get(
            mesh.outbound_url("frontend") + path, headers={"Host": host}) as response:
        return (response.status, response.headers.get("x-meshlens-reason", ""),
                await response.text())


async def test_peer_of_another_service_is_refused_and_the_right_one_served(mesh):
    frontend = mesh.sidecars["frontend"]
    status, reason, _ = await get(mesh, "catalog", "/stolen")
    assert (status, reason) == (502, "upstream_identity_mismatch")
    assert mesh.app.paths == []  # the request was never written to the impostor
    for _ in range(3):  # the right identity, over one kept-alive connection
        assert await get(mesh, "backend", "/items") == (200, "", "hello /items")
    assert mesh.app.paths == ["/items"] * 3
    # checked once per new connection: the refused one and the kept-alive one
    assert (frontend.upstream_identity.checked, frontend.upstream_identity.refused) == (2, 1)

    spans = await mesh.finished_spans("frontend")
    refused = next(s for s in spans if s.attributes.get("url.path") == "/stolen")
    assert refused.attributes["error.type"] == "upstream_identity_mismatch"
    assert refused.attributes["http.response.status_code"] == 502
    (event,) = [e for e in refused.events if e.name == "upstream.identity_mismatch"]
    assert event.attributes is not None
    assert event.attributes["meshlens.identity.expected"] == CATALOG  # namespace from mesh.yaml
    assert event.attributes["meshlens.identity.presented"] == BACKEND
    assert await mesh.finished_spans("impostor") == ()  # no inbound hop either


async def test_the_destination_identity_arrives_with_the_config_snapshot(mesh):
    routes = mesh.sidecars["frontend"].routes
    assert routes is not None
    identities = {name: d.config.identity for name, d in routes.destinations.items()}
    assert identities == {"backend": BACKEND, "catalog": CATALOG}


# The check alone, on the pool, against a TLS server of our own CA.

@pytest.fixture
def ca() -> TestCA:
    return TestCA("mesh.test")


def material(identity: IssuedIdentity) -> IdentityMaterial:
    return IdentityMaterial(identity.chain_pem, identity.key_pem, identity.bundle_pem)


async def tls_server(context: ssl.SSLContext) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)


def check_for(service: str, endpoint: Endpoint, identity: str | None = None
              ) -> UpstreamIdentityCheck:
    destination = Destination(DestinationConfig(service=service, identity=identity,
                                                endpoints=(LabeledEndpoint(endpoint),)),
                              SystemClock(), random.Random())
    return UpstreamIdentityCheck(lambda e: (destination,) if e == endpoint else (),
                                 trust_domain="mesh.test", namespace="default")


@pytest.mark.parametrize(("service", "identity", "refused_as"), [
    ("catalog", None, "spiffe://mesh.test/ns/default/sa/catalog"),  # derived: own namespace
    ("backend", "spiffe://mesh.test/ns/shop/sa/backend", "spiffe://mesh.test/ns/shop/sa/backend"),
])
async def test_pool_refuses_a_new_connection_to_the_wrong_identity(ca, service, identity,
                                                                   refused_as):
    server = await tls_server(server_context(material(ca.identity("backend"))))
    endpoint = Endpoint("127.0.0.1", server.sockets[0].getsockname()[1])
    pool = UpstreamPool(ssl_context=client_context(material(ca.identity("frontend"))),
                        peer_check=check_for(service, endpoint, identity))
    try:
        with pytest.raises(UpstreamIdentityMismatch) as refused:
            await pool.acquire(endpoint)
        assert (refused.value.expected, refused.value.presented) == (refused_as, BACKEND)
        assert pool.opened == 0
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()


async def test_pool_accepts_the_expected_identity_and_refuses_unknown_endpoints(ca):
    server = await tls_server(server_context(material(ca.identity("backend"))))
    endpoint = Endpoint("127.0.0.1", server.sockets[0].getsockname()[1])
    check = check_for("backend", endpoint)
    pool = UpstreamPool(ssl_context=client_context(material(ca.identity("frontend"))),
                        peer_check=check)
    try:
        conn, reused = await pool.acquire(endpoint)
        assert not reused and not conn.closed
        conn.close()
        stranger = UpstreamIdentityCheck(lambda e: (), trust_domain="mesh.test",
                                         namespace="default")
        pool.peer_check = stranger
        with pytest.raises(UpstreamIdentityMismatch, match="in no destination"):
            await pool.acquire(endpoint)
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()


async def test_an_address_listed_under_two_identities_is_refused(ca):
    server = await tls_server(server_context(material(ca.identity("backend"))))
    endpoint = Endpoint("127.0.0.1", server.sockets[0].getsockname()[1])
    listed = (LabeledEndpoint(endpoint),)
    both = tuple(Destination(DestinationConfig(service=name, endpoints=listed), SystemClock(),
                             random.Random()) for name in ("backend", "catalog"))
    check = UpstreamIdentityCheck(lambda e: both, trust_domain="mesh.test", namespace="default")
    pool = UpstreamPool(ssl_context=client_context(material(ca.identity("frontend"))),
                        peer_check=check)
    try:
        # connections are pooled per address: which of the two a connection reached
        # could not be told apart on reuse, so neither is trusted
        with pytest.raises(UpstreamIdentityMismatch, match="ambiguous") as refused:
            await pool.acquire(endpoint)
        assert refused.value.expected == (
            "ambiguous: the endpoint is listed with spiffe://mesh.test/ns/default/sa/backend"
            " and spiffe://mesh.test/ns/default/sa/catalog")
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
