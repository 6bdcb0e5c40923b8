"""The inbound mTLS listener over real TLS: who gets in and who does not."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator

import pytest

from control.mesh_config import Policy, PolicyAction
from control.policy import PolicyEvaluator
from control.testing import IssuedIdentity, TestCA
from proxy.accept import Exchange
from proxy.identity.authz_gate import AuthorizingHandler, tls_state_of
from proxy.identity.mtls_listener import MtlsListener, MtlsMode
from proxy.identity.peer_identity import PeerIdentity
from proxy.identity.revocation_list import RevocationList
from proxy.identity.rotation import IdentityContexts
from proxy.identity.tls_contexts import IdentityMaterial, client_context


def material(identity: IssuedIdentity) -> IdentityMaterial:
    return IdentityMaterial(identity.chain_pem, identity.key_pem, identity.bundle_pem)


async def echo_identity(exchange: Exchange) -> None:
    state = tls_state_of(exchange)
    body = state.spiffe_id if isinstance(state, PeerIdentity) else f"none:{state.reason}"
    exchange.respond(200, body.encode())


@pytest.fixture
def ca() -> TestCA:
    return TestCA("mesh.test")


async def start_listener(ca: TestCA, mode: MtlsMode = "strict",
                         policies: tuple[Policy, ...] = ()) -> tuple[MtlsListener,
                                                                      IdentityContexts]:
    identity = IdentityContexts(material(ca.identity("backend")))
    handler = AuthorizingHandler(echo_identity, "backend",
                                 PolicyEvaluator(policies, PolicyAction.ALLOW),
                                 identity=identity)
    listener = MtlsListener("inbound", handler, "127.0.0.1", 0, identity=identity, mode=mode)
    await listener.start()
    return listener, identity


@pytest.fixture
async def strict(ca: TestCA) -> AsyncIterator[tuple[MtlsListener, IdentityContexts]]:
    listener, identity = await start_listener(ca)
    yield listener, identity
    await listener.stop()


async def get(port: int, context: ssl.SSLContext | None, path: str = "/",
              method: str = "GET") -> tuple[int, dict[str, str], str]:
    """One request on its own connection; raises on a refused connection."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context), 3)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n"
                     .encode())
        raw = await asyncio.wait_for(reader.read(), 3)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    if not raw:
        raise ConnectionResetError("closed without a response")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body.decode()


async def test_peer_with_mesh_certificate_gets_in_with_its_spiffe_id(strict, ca):
    listener, _ = strict
    status, _, body = await get(listener.port, client_context(material(ca.identity("frontend"))))
    assert (status, body) == (200, "spiffe://mesh.test/ns/default/sa/frontend")


async def test_plaintext_to_strict_inbound_is_refused(strict):
    listener, _ = strict
    with pytest.raises((ConnectionError, OSError)):
        await get(listener.port, None)


async def test_peer_from_another_ca_is_refused(strict):
    listener, _ = strict
    stranger = TestCA("mesh.test").identity("frontend")
    context = client_context(IdentityMaterial(stranger.chain_pem, stranger.key_pem,
                                              strict[1].current.material.bundle_pem))
    with pytest.raises((ConnectionError, OSError, ssl.SSLError)):
        await get(listener.port, context)


async def test_expired_certificate_is_refused(strict, ca):
    listener, _ = strict
    with pytest.raises((ConnectionError, OSError, ssl.SSLError)):
        await get(listener.port, client_context(material(ca.expired("frontend"))))


async def test_client_without_certificate_is_refused_by_strict(strict, ca):
    listener, _ = strict
    with pytest.raises((ConnectionError, OSError, ssl.SSLError)):
        await get(listener.port, client_context(None, ca.ca.trust_bundle_pem()))


async def test_permissive_accepts_plaintext_and_tls_with_reasons(ca):
    listener, _ = await start_listener(ca, mode="permissive")
    try:
        status, _, body = await get(listener.port, None)
        assert (status, body) == (200, "none:no_tls_from_remote")
        status, _, body = await get(listener.port,
                                    client_context(material(ca.identity("frontend"))))
        assert (status, body) == (200, "spiffe://mesh.test/ns/default/sa/frontend")
    finally:
        await listener.stop()


async def test_revoked_identity_is_refused_and_its_open_connection_closed(strict, ca):
    listener, identity = strict
    frontend = ca.identity("frontend")
    context = client_context(material(frontend))
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port, ssl=context)
    writer.write(b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n")
    assert (await asyncio.wait_for(reader.readuntil(b"frontend"), 3)).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    identity.set_revocations(RevocationList(1, identities=frozenset({frontend.spiffe_id})))
    assert await asyncio.wait_for(reader.read(), 3) == b""  # the open connection is closed
    writer.close()
    with pytest.raises((ConnectionError, OSError, ssl.SSLError)):
        await get(listener.port, context)
    assert time.monotonic() - started < 5


async def test_revoked_serial_is_refused_but_a_new_certificate_is_not(strict, ca):
    listener, identity = strict
    old, new = ca.identity("frontend"), ca.identity("frontend")
    identity.set_revocations(RevocationList(1, serials=frozenset({old.serial_hex})))
    with pytest.raises((ConnectionError, OSError, ssl.SSLError)):
        await get(listener.port, client_context(material(old)))
    assert (await get(listener.port, client_context(material(new))))[0] == 200


async def test_policy_deny_answers_403_with_the_policy_name(ca):
    deny = Policy(name="no-admin-from-frontend", action=PolicyAction.DENY,
                  sources=("frontend",), paths=("/admin/*",))
    listener, _ = await start_listener(ca, policies=(deny,))
    try:
        context = client_context(material(ca.identity("frontend")))
        status, headers, _ = await get(listener.port, context, "/admin/users")
        assert status == 403
        assert headers["x-meshlens-policy"] == "no-admin-from-frontend"
        assert (await get(listener.port, context, "/public"))[0] == 200
        other = client_context(material(ca.identity("ops")))
        assert (await get(listener.port, other, "/admin/users"))[0] == 200
    finally:
        await listener.stop()


async def test_root_rotation_overlap_then_old_root_dropped(ca):
    new_ca = TestCA("mesh.test")
    both = ca.ca.trust_bundle_pem() + new_ca.ca.trust_bundle_pem()
    server = ca.identity("backend")
    identity = IdentityContexts(IdentityMaterial(server.chain_pem, server.key_pem, both))
    listener = MtlsListener("inbound", echo_identity, "127.0.0.1", 0, identity=identity)
    await listener.start()
    try:
        old_client, new_client = ca.identity("frontend"), new_ca.identity("frontend")
        for peer in (old_client, new_client):  # overlap: both roots trusted both ways
            context = client_context(IdentityMaterial(peer.chain_pem, peer.key_pem, both))
            assert (await get(listener.port, context))[0] == 200
        # the backend renews from the new CA and its bundle no longer holds the old root
        renewed = new_ca.identity("backend")
        identity.swap(IdentityMaterial(renewed.chain_pem, renewed.key_pem,
                                       new_ca.ca.trust_bundle_pem()))
        new_context = client_context(IdentityMaterial(new_client.chain_pem, new_client.key_pem,
                                                      new_ca.ca.trust_bundle_pem()))
        assert (await get(listener.port, new_context))[0] == 200
        with pytest.raises((ConnectionError, OSError, ssl.SSLError)):
            await get(listener.port, client_context(material(old_client)))
    finally:
        await listener.stop()


async def test_a_new_evaluator_decides_the_next_request_of_a_kept_alive_connection(ca):
    # the gate narrows the evaluator to each caller once: a swap must not keep the old
    listener, _ = await start_listener(ca)
    gate = listener.handler
    assert isinstance(gate, AuthorizingHandler)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", listener.port, ssl=client_context(material(ca.identity("frontend"))))

    async def status_of(path: str) -> int:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: backend\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        return int(head.split()[1])

    try:
        assert [await status_of("/admin/users"), await status_of("/items")] == [200, 200]
        gate.evaluator = PolicyEvaluator(
            [Policy(name="no-admin", action=PolicyAction.DENY, sources=("frontend",),
                    paths=("/admin/*",))], PolicyAction.ALLOW)
        assert [await status_of("/admin/users"), await status_of("/items")] == [403, 200]
        gate.evaluator = PolicyEvaluator((), PolicyAction.DENY)
        assert await status_of("/items") == 403
        gate.evaluator = PolicyEvaluator((), PolicyAction.ALLOW)
        assert await status_of("/admin/users") == 200
    finally:
        writer.close()
        await listener.stop()
