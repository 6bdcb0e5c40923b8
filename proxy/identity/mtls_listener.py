"""Inbound listener that terminates mTLS with the current identity, per connection.

Unlike a listener bound once to one SSLContext, this one accepts raw sockets and
starts TLS on each with the context current at that moment, so a rotation takes
effect for the next handshake without touching open connections. Modes:

- ``strict``: TLS with a client certificate chaining to the trust bundle; a
  plaintext client fails the handshake and is closed.
- ``permissive``: the first byte tells TLS (0x16, a handshake record) from
  plaintext; plaintext requests proceed with ``NoIdentity("no_tls_from_remote")``.
- ``disabled``: plaintext only, ``NoIdentity("disabled")``.

Each connection's :class:`TlsState` is checked against the revocation list when
it is made, and connections of a peer revoked later are closed when the list
changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import Literal

from proxy.accept import Downstream, Listener, RequestHandler
from proxy.http_codec import MAX_BODY_BYTES, MAX_HEAD_BYTES
from proxy.identity.peer_identity import NoIdentity, TlsState, identity_of_ssl_object
from proxy.identity.revocation_list import RevocationList
from proxy.identity.rotation import IdentityContexts

log = logging.getLogger(__name__)
MtlsMode = Literal["strict", "permissive", "disabled"]
_TLS_HANDSHAKE_RECORD = 0x16
DETECT_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 10.0


class IdentifiedDownstream(Downstream):
    """A downstream connection that knows its peer's TLS state."""

    def __init__(self, listener: MtlsListener, plaintext_reason: NoIdentity) -> None:
        super().__init__(listener)
        self.tls_state: TlsState = plaintext_reason
        self._mtls = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls_state = identity_of_ssl_object(ssl_object)
        super().connection_made(transport)
        if self._mtls.refuses(self.tls_state):
            self._listener.rejected += 1
            self.close()


class MtlsListener(Listener):
    def __init__(self, name: str, handler: RequestHandler, host: str, port: int, *,
                 identity: IdentityContexts | None, mode: MtlsMode = "strict",
                 max_head_bytes: int = MAX_HEAD_BYTES,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        super().__init__(name, handler, host, port, max_head_bytes=max_head_bytes,
                         max_body_bytes=max_body_bytes)
        if identity is None and mode != "disabled":
            raise ValueError(f"mTLS mode {mode!r} needs an identity")
        self.identity = identity
        self.mode: MtlsMode = mode
        self._socket: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        if identity is not None:
            identity.on_revocations(self._close_revoked)

    def refuses(self, state: TlsState) -> bool:
        if self.mode == "strict" and isinstance(state, NoIdentity):
            return True
        return self.identity is not None and self.identity.revocations.refuses(state)

    async def start(self) -> None:
        sock = socket.create_server((self.host, self.requested_port), reuse_port=False,
                                    backlog=512)
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop(sock))

    async def stop(self) -> None:
        task, self._accepting = self._accepting, None
        sock, self._socket = self._socket, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if sock is not None:
            sock.close()
        for pending in list(self._pending):
            pending.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        for conn in list(self.connections):
            conn.close()

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _addr = await loop.sock_accept(sock)
            # as asyncio does for its own servers; without it Nagle meets delayed ACK
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._serve_connection(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _serve_connection(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            context = await self._context_for(conn)
            reason = NoIdentity("disabled" if self.mode == "disabled" else "no_tls_from_remote")
            await loop.connect_accepted_socket(
                lambda: IdentifiedDownstream(self, reason), conn, ssl=context,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S if context else None)
        except asyncio.CancelledError:
            conn.close()
            raise
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.rejected += 1
            log.debug("%s: connection refused before HTTP: %r", self.name, exc)
            conn.close()

    async def _context_for(self, conn: socket.socket) -> ssl.SSLContext | None:
        if self.mode == "disabled" or self.identity is None:
            return None
        current = self.identity.current
        if self.mode == "strict":
            return current.server
        first = await asyncio.wait_for(_peek_byte(conn), DETECT_TIMEOUT_S)
        return current.server_permissive if first == _TLS_HANDSHAKE_RECORD else None

    def close_idle_connections(self) -> int:
        """Close connections with no request in flight, so that their peers handshake
        again (with the current certificates and trust bundle); how many were closed."""
        idle = [c for c in list(self.connections) if not c.in_flight]
        for conn in idle:
            conn.close()
        return len(idle)

    def _close_revoked(self, revocations: RevocationList) -> None:
        for conn in list(self.connections):
            if isinstance(conn, IdentifiedDownstream) and revocations.refuses(conn.tls_state):
                log.info("%s: closing connection of revoked peer %s", self.name, conn.tls_state)
                conn.close()


async def _peek_byte(conn: socket.socket) -> int:
    """The first byte the client sent, left in the socket for whoever reads next."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = conn.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(conn.fileno(), _resolve, ready)
            try:
                await ready
            finally:
                loop.remove_reader(conn.fileno())
            continue
        if not data:
            raise ConnectionResetError("closed before the first byte")
        return data[0]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
