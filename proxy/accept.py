"""Accept stage: a listener and its downstream connections.

A :class:`Listener` binds a port (or takes a bound socket) and makes a
:class:`~proxy.downstream.Downstream` for each connection it accepts, which
parses the requests and hands them, in order, to the listener's handler.
``ssl`` is the transport-security seam: mTLS passes a server context here.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

# the connection and the exchange types are re-exported: handlers meet them here
from proxy.downstream import Downstream
from proxy.exchange import Exchange, InlineHandler, RequestHandler
from proxy.http_codec import MAX_BODY_BYTES, MAX_HEAD_BYTES

__all__ = ["Downstream", "Exchange", "InlineHandler", "Listener", "RequestHandler"]


class Listener:
    """A bound TCP listener whose connections are served by ``handler``."""

    def __init__(self, name: str, handler: RequestHandler, host: str, port: int,
                 ssl_context: ssl.SSLContext | None = None,
                 max_head_bytes: int = MAX_HEAD_BYTES,
                 max_body_bytes: int = MAX_BODY_BYTES, transparent: bool = False,
                 sock: socket.socket | None = None) -> None:
        self.name = name
        self.handler = handler
        self.host, self.requested_port = host, port
        # a handler may serve bodyless requests from the parser callback (see Downstream)
        self.inline: InlineHandler | None = getattr(handler, "inline", None)
        self.ssl_context = ssl_context
        self.max_head_bytes = max_head_bytes
        self.max_body_bytes = max_body_bytes
        self.transparent = transparent  # read SO_ORIGINAL_DST of each connection
        self._sock = sock  # an already bound socket (e.g. made inside another netns)
        self.connections: set[Downstream] = set()
        self.accepted = 0
        self.rejected = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._sock is not None:
            self._server = await loop.create_server(
                lambda: Downstream(self), sock=self._sock, ssl=self.ssl_context)
        else:
            self._server = await loop.create_server(
                lambda: Downstream(self), self.host, self.requested_port,
                ssl=self.ssl_context, reuse_address=True,
            )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self.connections):
            conn.close()
        await server.wait_closed()
