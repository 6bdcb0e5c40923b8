"""Over TLS a forwarded message goes out as one record, head and body together.

A TLS transport encrypts each piece handed to it as a record of its own, and
every record costs an encryption, a decryption at the peer and OpenSSL's work
per record on both sides. The sidecar's peers here speak TLS through
:class:`TlsRecords`, which reads the stream one record at a time and counts the
records that carry application data: a response relayed by the inbound
listener, and a request with a whole body sent by the outbound pool, each come
in one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

import pytest

from control.testing import IssuedIdentity, TestCA
from proxy.config import SidecarConfig
from proxy.identity.tls_contexts import IdentityMaterial, client_context, server_context
from proxy.sidecar import Sidecar

RUN_ON_UVLOOP = True
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"


def material(identity: IssuedIdentity) -> IdentityMaterial:
    return IdentityMaterial(identity.chain_pem, identity.key_pem, identity.bundle_pem)


class TlsRecords:
    """TLS over a plaintext stream through memory BIOs, fed one record at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 context: ssl.SSLContext, server_side: bool) -> None:
        self._reader, self._writer = reader, writer
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side)

    async def handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                self._incoming.write(await self._record())
                continue
            self._flush()
            return

    def send(self, data: bytes) -> None:
        self._tls.write(data)
        self._flush()

    async def receive_message(self) -> tuple[bytes, int]:
        """One HTTP message (framed by Content-Length) and the records that carried it."""
        data, records = b"", 0
        while not _message_complete(data):
            self._incoming.write(await self._record())
            try:
                chunk = self._tls.read(65536)
            except ssl.SSLWantReadError:  # a record without application data (a ticket)
                self._flush()
                continue
            if not chunk:
                raise ConnectionResetError("the peer closed (close_notify)")
            records += 1
            data += chunk
        return data, records

    def _flush(self) -> None:
        if self._outgoing.pending:
            self._writer.write(self._outgoing.read())

    async def _record(self) -> bytes:
        header = await self._reader.readexactly(5)  # type, version, length
        return header + await self._reader.readexactly(int.from_bytes(header[3:5], "big"))


def _message_complete(data: bytes) -> bool:
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    lengths = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
               if line.lower().startswith(b"content-length:")]
    return len(body) >= (lengths[0] if lengths else 0)


def config(service: str, app_port: int, routes: list[dict[str, object]] | None = None
           ) -> SidecarConfig:
    return SidecarConfig.from_mapping({
        "service": service, "version": "v1", "app_port": app_port, "inbound_port": 0,
        "outbound_port": 0, "admin_port": 0, "telemetry": False, "routes": routes or []})


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The app: ``200 ok`` to each request (bodyless), in one write."""
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(OK)
    await closed(writer)


async def closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@pytest.fixture
def ca() -> TestCA:
    return TestCA("mesh.test")


@pytest.fixture
async def app_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(answer_ok, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_the_inbound_listener_relays_each_response_in_one_record(ca, app_port):
    sidecar = Sidecar(config("backend", app_port),
                      inbound_ssl=server_context(material(ca.identity("backend"))))
    await sidecar.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.inbound_port)
    try:
        client = TlsRecords(reader, writer, client_context(material(ca.identity("frontend"))),
                            server_side=False)
        await client.handshake()
        for _ in range(3):  # the first on the worker path, the next ones inline
            client.send(b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n")
            response, records = await asyncio.wait_for(client.receive_message(), 5)
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            assert response.endswith(b"\r\n\r\nok\n")
            assert records == 1
    finally:
        await closed(writer)
        await sidecar.stop()


async def test_the_outbound_pool_sends_a_request_with_its_whole_body_in_one_record(ca):
    received: list[tuple[bytes, int]] = []
    server_ssl = server_context(material(ca.identity("backend")))
    connections: set[asyncio.Task[object]] = set()

    async def backend_sidecar(reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
        connections.add(asyncio.current_task())  # type: ignore[arg-type]
        peer = TlsRecords(reader, writer, server_ssl, server_side=True)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await peer.handshake()
            while True:
                received.append(await peer.receive_message())
                peer.send(OK)
        await closed(writer)

    backend = await asyncio.start_server(backend_sidecar, "127.0.0.1", 0)
    port = backend.sockets[0].getsockname()[1]
    sidecar = Sidecar(config("frontend", 9, [{"host": "backend",
                                              "endpoints": [f"127.0.0.1:{port}"]}]),
                      upstream_ssl=client_context(material(ca.identity("frontend"))))
    await sidecar.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.outbound_port)
    try:
        for request in (b"POST /upload HTTP/1.1\r\nHost: backend\r\nContent-Length: 100\r\n\r\n"
                        + b"x" * 100,
                        b"GET /items HTTP/1.1\r\nHost: backend\r\n\r\n"):
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert await reader.readexactly(3) == b"ok\n"
        assert [(data.split(b" ", 2)[:2], data.endswith(b"x" * 100), records)
                for data, records in received] == [([b"POST", b"/upload"], True, 1),
                                                   ([b"GET", b"/items"], False, 1)]
    finally:
        await closed(writer)
        await sidecar.stop()  # closes its connections: the backend's handlers end
        await asyncio.wait_for(asyncio.gather(*connections), 5)
        backend.close()
        await backend.wait_closed()
