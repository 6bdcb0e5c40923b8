"""Bodyless requests forwarded from protocol callbacks (proxy.inline_forward), over sockets.

Each branch that leaves the callback path is driven here by an upstream that
misbehaves on purpose: a kept-alive connection it drops on the next request
(forwarded again on a fresh one), an answer that streams (relayed by the
worker), a client that leaves before the answer (the hop ends as
``downstream_reset`` and the upstream connection is dropped), and requests
pipelined behind one in flight (answered in order).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proxy import Sidecar, SidecarConfig

RUN_ON_UVLOOP = True
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

@dataclass
class Upstream:
    port: int = 0
    connections: int = 0
    requests: list[tuple[int, int]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # a connection was closed


@asynccontextmanager
async def scripted_upstream(answer: Callable[[Upstream, int, int, asyncio.StreamReader,
                                               asyncio.StreamWriter], object]
                            ) -> AsyncIterator[Upstream]:
    """``answer(state, connection number, request number on it, reader, writer)`` answers
    each request (or not); a coroutine is awaited."""
    state = Upstream()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        number, seen = state.connections, 0
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                seen += 1
                state.requests.append((number, seen))
                result = answer(state, number, seen, reader, writer)
                if asyncio.iscoroutine(result):
                    await result
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            state.closed.set()
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()


@asynccontextmanager
async def inbound_sidecar(app_port: int) -> AsyncIterator[tuple[Sidecar, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    sidecar = Sidecar(SidecarConfig(service="catalog", version="v1", inbound_port=0,
                                    outbound_port=0, admin_port=0, app_port=app_port),
                      span_exporter=spans)
    await sidecar.start()
    try:
        yield sidecar, spans
    finally:
        await sidecar.stop()


async def exchange(port: int, requests: bytes, answers: int) -> list[bytes]:
    """Send ``requests`` at once on one connection; read ``answers`` whole responses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(requests)
        out = []
        for _ in range(answers):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            out.append(head.split(b"\r\n", 1)[0] + b" " + await reader.readexactly(length))
        return out
    finally:
        writer.close()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: catalog\r\n\r\n".encode()


async def test_a_kept_alive_connection_dropped_by_the_upstream_is_replaced() -> None:
    def answer(state: Upstream, conn: int, nth: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        if conn == 1 and nth == 2:
            writer.close()  # dropped on its second request, which was never answered
        else:
            writer.write(OK)

    async with scripted_upstream(answer) as upstream, inbound_sidecar(upstream.port) as (
            sidecar, _):
        for _ in range(3):
            assert await exchange(sidecar.inbound_port, get("/"), 1) == [b"HTTP/1.1 200 OK ok"]
    assert upstream.requests == [(1, 1), (1, 2), (2, 1), (2, 2)]


async def test_one_connection_s_requests_in_turn_whichever_way_each_went() -> None:
    """A downstream connection's inline forward is reused: one exchange after another,
    the second sent again from the worker (its kept-alive upstream dropped it)."""
    def answer(state: Upstream, conn: int, nth: int, reader: asyncio.StreamReader,
               writer: asyncio.StreamWriter) -> None:
        if conn == 1 and nth == 2:
            writer.close()
        else:
            writer.write(OK)

    async with scripted_upstream(answer) as upstream, inbound_sidecar(upstream.port) as (
            sidecar, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.inbound_port)
        try:
            for n in range(4):
                writer.write(get(f"/{n}"))
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                assert head.startswith(b"HTTP/1.1 200 OK\r\n")
                assert await reader.readexactly(2) == b"ok"
        finally:
            writer.close()
    assert upstream.requests == [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3)]


async def test_an_answer_still_streaming_is_relayed_to_its_end() -> None:
    async def answer(state: Upstream, conn: int, nth: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"-last")

    async with scripted_upstream(answer) as upstream, inbound_sidecar(upstream.port) as (
            sidecar, _):
        for _ in range(2):  # a new connection, then the kept-alive one
            assert await exchange(sidecar.inbound_port, get("/"), 1) == [
                b"HTTP/1.1 200 OK first-last"]
    assert upstream.connections == 1


async def test_pipelined_requests_behind_one_in_flight_are_answered_in_order() -> None:
    async def answer(state: Upstream, conn: int, nth: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.02)
        body = f"answer {len(state.requests)}".encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))

    async with scripted_upstream(answer) as upstream, inbound_sidecar(upstream.port) as (
            sidecar, _):
        await exchange(sidecar.inbound_port, get("/warm"), 1)  # an idle connection waits
        answers = await exchange(sidecar.inbound_port, get("/1") + get("/2") + get("/3"), 3)
    assert answers == [b"HTTP/1.1 200 OK answer 2", b"HTTP/1.1 200 OK answer 3",
                       b"HTTP/1.1 200 OK answer 4"]


async def test_a_client_leaving_before_the_answer_ends_the_hop_and_drops_the_upstream() -> None:
    arrived = asyncio.Event()

    async def answer(state: Upstream, conn: int, nth: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        if nth == 1:
            writer.write(OK)
            return
        arrived.set()
        await reader.read()  # never answers: waits for the proxy to close

    async with scripted_upstream(answer) as upstream, inbound_sidecar(upstream.port) as (
            sidecar, spans):
        await exchange(sidecar.inbound_port, get("/warm"), 1)
        _, writer = await asyncio.open_connection("127.0.0.1", sidecar.inbound_port)
        writer.write(get("/gone"))
        await asyncio.wait_for(arrived.wait(), 5)
        upstream.closed.clear()
        sock = writer.get_extra_info("socket")  # a reset, not a half-close: gone for good
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        await asyncio.wait_for(upstream.closed.wait(), 5)  # the proxy dropped its side
        await sidecar.stop()
        gone = [s for s in spans.get_finished_spans() if s.attributes
                and s.attributes.get("url.path") == "/gone"]
    assert len(gone) == 1 and gone[0].attributes is not None
    assert gone[0].attributes["error.type"] == "downstream_reset"


async def test_nothing_after_a_refused_request_is_forwarded() -> None:
    def answer(state: Upstream, conn: int, nth: int, reader: asyncio.StreamReader,
               writer: asyncio.StreamWriter) -> None:
        writer.write(OK)

    async with scripted_upstream(answer) as upstream, inbound_sidecar(upstream.port) as (
            sidecar, _):
        await exchange(sidecar.inbound_port, get("/warm"), 1)  # an idle connection waits
        reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.inbound_port)
        # refused from the parser callback (a target that is no URL), then closed: the
        # request pipelined behind it must go nowhere
        writer.write(b"GET http:/// HTTP/1.1\r\nHost: catalog\r\n\r\n" + get("/after"))
        answer_bytes = await asyncio.wait_for(reader.read(), 5)  # up to the close
        writer.close()
    assert answer_bytes.startswith(b"HTTP/1.1 400 ") and answer_bytes.count(b"HTTP/1.1") == 1
    assert upstream.requests == [(1, 1)]  # the warm-up only
