"""The floor: the thinnest HTTP/1.1 relay httptools allows, what any Python proxy pays.

    python bench/floor_relay.py --listen PORT --upstream PORT [--host 127.0.0.1]

Parse the request, write its head to the upstream, parse the answer, write it back:
no checks, no routing, no header rewriting, no timeouts, no telemetry. One event loop
(uvloop); upstream connections are kept alive in a pool of idle ones, a new one opened
only when none is idle (so at most one per request in flight, one per downstream
connection under wrk). bench/proxy.py loads it with wrk next to nginx and the sidecar;
bench/proxy_path.py drives the same protocol classes over fake transports to count
their instructions.

Enough for wrk's GETs and an upstream that answers with a Content-Length, and no more:
request bodies are dropped, chunked answers lose their framing, the status line is
rebuilt as ``HTTP/1.1 <code> OK``, and there are no upgrades, pipelining, 1xx answers,
``Connection: close`` handling or errors sent back (a failed upstream connect closes the
downstream connection).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable
from typing import cast

import httptools

# Called when no idle upstream connection is left: open one, then send it the head.
Dial = Callable[["FloorDownstream", bytes], None]


class FloorUpstream(asyncio.Protocol):
    """One kept-alive upstream connection: parse the answer, write it back whole."""

    def __init__(self, idle: list[FloorUpstream]) -> None:
        self._idle = idle
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self._body = b""
        self.transport: asyncio.WriteTransport | None = None
        self.client: FloorDownstream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self._idle:
            self._idle.remove(self)
        if self.client is not None and self.client.transport is not None:
            self.client.transport.close()  # mid-answer: the client cannot get it whole

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        lines = [b"HTTP/1.1 %d OK\r\n" % self._parser.get_status_code()]
        for name, value in self._headers:
            lines += (name, b": ", value, b"\r\n")
        lines += (b"\r\n", self._body)
        self._headers, self._body = [], b""
        client, self.client = self.client, None
        assert client is not None
        if client.transport is not None:  # None: the client has gone meanwhile
            client.transport.write(b"".join(lines))
        self._idle.append(self)


class FloorDownstream(asyncio.Protocol):
    """One client connection: parse each request, send its head on an idle upstream."""

    def __init__(self, idle: list[FloorUpstream], dial: Dial) -> None:
        self._idle = idle
        self._dial = dial
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None  # an answer still on its way is dropped, not written

    def on_url(self, url: bytes) -> None:
        self._url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_message_complete(self) -> None:
        lines = [self._parser.get_method(), b" ", self._url, b" HTTP/1.1\r\n"]
        for name, value in self._headers:
            lines += (name, b": ", value, b"\r\n")
        lines.append(b"\r\n")
        self._headers = []
        if not self._idle:
            self._dial(self, b"".join(lines))
            return
        upstream = self._idle.pop()
        upstream.client = self
        assert upstream.transport is not None
        upstream.transport.write(b"".join(lines))


class FloorRelay:
    """The floor as a server: listens on ``listen_port``, relays to ``upstream_port``."""

    def __init__(self, listen_port: int, upstream_port: int, host: str = "127.0.0.1") -> None:
        self._listen = (host, listen_port)
        self._upstream = (host, upstream_port)
        self._idle: list[FloorUpstream] = []
        self._dialing: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        if self._server is None:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                lambda: FloorDownstream(self._idle, self._dial), *self._listen)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._dialing):
            task.cancel()
        while self._idle:
            upstream = self._idle.pop()
            if upstream.transport is not None:
                upstream.transport.close()
        await server.wait_closed()

    def _dial(self, client: FloorDownstream, head: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self._connect(client, head))
        self._dialing.add(task)
        task.add_done_callback(self._dialing.discard)

    async def _connect(self, client: FloorDownstream, head: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(lambda: FloorUpstream(self._idle),
                                                       *self._upstream)
        except OSError:
            if client.transport is not None:
                client.transport.close()
            return
        upstream.client = client
        assert upstream.transport is not None
        upstream.transport.write(head)


async def serve(relay: FloorRelay) -> None:
    await relay.start()
    try:
        await asyncio.Event().wait()  # until cancelled (Ctrl-C)
    finally:
        await relay.stop()


def main() -> None:
    import uvloop

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True, help="port to accept on")
    parser.add_argument("--upstream", type=int, required=True, help="port to relay to")
    parser.add_argument("--host", default="127.0.0.1", help="address of both")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt), \
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(FloorRelay(args.listen, args.upstream, args.host)))


if __name__ == "__main__":
    main()
