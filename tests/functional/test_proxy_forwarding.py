"""Outbound sidecar -> inbound sidecar -> a local aiohttp app, over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from proxy import Route, Sidecar, SidecarConfig, parse_traceparent

# every test here runs on asyncio's loop and on uvloop, which `meshlens proxy` uses
# (see tests/conftest.py)
RUN_ON_UVLOOP = True
# a proxy that accepts but never answers must fail a test, not hang it
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=10)
MIB = 1024 * 1024
CALLER_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass
class App:
    port: int
    peers: set[tuple[str, int]] = field(default_factory=set)
    seen: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Mesh:
    app: App
    client_side: Sidecar  # service "frontend": its outbound port is what the app calls
    server_side: Sidecar  # service "catalog": inbound in front of the app
    client_spans: InMemorySpanExporter
    server_spans: InMemorySpanExporter

    @property
    def outbound_url(self) -> str:
        return f"http://127.0.0.1:{self.client_side.outbound_port}"


async def _start_app() -> tuple[App, web.AppRunner]:
    state = App(port=0)

    async def record(request: web.Request) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            state.peers.add((peer[0], peer[1]))
        state.seen.append(dict(request.headers))

    async def echo(request: web.Request) -> web.Response:
        await record(request)
        body = await request.read()
        return web.Response(body=body, headers={"x-path": request.path_qs})

    async def chunked(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(5):
            await response.write(f"part{i};".encode())
        await response.write_eof()
        return response

    async def big(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=bytes(range(256)) * (MIB // 256))

    async def status(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=int(request.match_info["code"]), text="status")

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/big", big)
    app.router.add_get("/status/{code}", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = runner.addresses[0][1]
    return state, runner


def _config(service: str, app_port: int, routes: tuple[Route, ...] = ()) -> SidecarConfig:
    return SidecarConfig(service=service, version="v1", inbound_port=0, outbound_port=0,
                         admin_port=0, app_port=app_port, routes=routes)


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    app, runner = await _start_app()
    server_spans, client_spans = InMemorySpanExporter(), InMemorySpanExporter()
    server_side = Sidecar(_config("catalog", app.port), span_exporter=server_spans)
    await server_side.start()
    route = Route(host="catalog", service="catalog",
                  endpoints=(f"127.0.0.1:{server_side.inbound_port}",))
    # app_port of the client side is never dialled in these tests
    client_side = Sidecar(_config("frontend", 9, (route,)), span_exporter=client_spans)
    await client_side.start()
    try:
        yield Mesh(app, client_side, server_side, client_spans, server_spans)
    finally:
        await client_side.stop()
        await server_side.stop()
        await runner.cleanup()


async def _get(mesh: Mesh, path: str, **kwargs: object) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session, session.request(
        str(kwargs.pop("method", "GET")), mesh.outbound_url + path,
        headers={"Host": "catalog", **kwargs.pop("headers", {})},  # type: ignore[dict-item]
        **kwargs,  # type: ignore[arg-type]
    ) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_content_length_body_round_trips(mesh: Mesh) -> None:
    status, body, headers = await _get(mesh, "/echo?x=1", method="POST", data=b"hello mesh")
    assert status == 200
    assert body == b"hello mesh"
    assert headers["x-path"] == "/echo?x=1"


async def test_chunked_request_and_response_bodies(mesh: Mesh) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(4):
            yield f"chunk{i}-".encode() * 1000

    status, body, _ = await _get(mesh, "/echo", method="POST", data=chunks())
    assert status == 200
    assert body == b"".join(f"chunk{i}-".encode() * 1000 for i in range(4))
    status, body, headers = await _get(mesh, "/chunked")
    assert (status, body) == (200, b"part0;part1;part2;part3;part4;")
    assert headers.get("Transfer-Encoding") == "chunked"


async def test_one_mebibyte_bodies_both_ways(mesh: Mesh) -> None:
    payload = bytes(range(256)) * (MIB // 256)
    status, body, _ = await _get(mesh, "/big")
    assert status == 200 and body == payload
    status, body, _ = await _get(mesh, "/echo", method="PUT", data=payload)
    assert status == 200 and body == payload


async def test_keep_alive_connections_are_reused(mesh: Mesh) -> None:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session:
        for _ in range(10):
            async with session.get(mesh.outbound_url + "/echo",
                                   headers={"Host": "catalog"}) as response:
                assert response.status == 200
                await response.read()
    assert len(mesh.app.peers) == 1  # inbound sidecar -> app: one pooled connection
    stats = mesh.server_side.stats()
    assert stats["inbound"]["accepted"] == 1  # outbound -> inbound: one pooled connection
    assert mesh.client_side.stats()["mesh_pool"]["opened"] == 1


async def test_unknown_host_gets_503_no_route(mesh: Mesh) -> None:
    status, _, headers = await _get(mesh, "/echo", headers={"Host": "nowhere:8080"})
    assert status == 503
    assert headers["x-meshlens-reason"] == "no_route"
    assert mesh.app.seen == []


async def test_unreachable_upstream_gets_502(mesh: Mesh) -> None:
    await mesh.server_side.stop()  # the route now points at a closed port
    status, _, headers = await _get(mesh, "/echo")
    assert status == 502
    assert headers["x-meshlens-reason"] == "upstream_connect_failure"


async def test_app_down_behind_inbound_gets_502() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    sidecar = Sidecar(_config("lonely", port), span_exporter=InMemorySpanExporter())
    await sidecar.start()
    try:
        async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session, session.get(
            f"http://127.0.0.1:{sidecar.inbound_port}/x"
        ) as response:
            assert response.status == 502
    finally:
        await sidecar.stop()


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)  # until the proxy closes
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("request_bytes, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\nHost: catalog\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: catalog\r\nContent-Length: 3\r\n"
     b"Content-Length: 4\r\n\r\nabcd", 400),
    (b"POST /echo HTTP/1.1\r\nHost: catalog\r\nContent-Length: 3\r\n"
     b"Content-Length: 3\r\n\r\nabc", 400),
    (b"GET /echo HTTP/1.1\r\nHost: catalog\r\nHost: other\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\nHost: catalog\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET /echo HTTP/1.1\r\nHost: catalog\r\n" + b"X-Many: aaaaaaaaaa\r\n" * 4000 + b"\r\n",
     431),
])
async def test_bad_requests_are_rejected_and_never_forwarded(
        mesh: Mesh, request_bytes: bytes, status: int) -> None:
    for port in (mesh.client_side.outbound_port, mesh.server_side.inbound_port):
        answer = await _raw(port, request_bytes)
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:80]
        assert b"Connection: close" in answer
    assert mesh.app.seen == []


async def test_smuggled_second_request_is_not_forwarded(mesh: Mesh) -> None:
    smuggle = (b"POST /echo HTTP/1.1\r\nHost: catalog\r\nContent-Length: 44\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
               b"GET /status/201 HTTP/1.1\r\nHost: catalog\r\n\r\n")
    answer = await _raw(mesh.server_side.inbound_port, smuggle)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.count(b"HTTP/1.1") == 1
    assert mesh.app.seen == []


async def test_pipelined_requests_are_answered_in_order(mesh: Mesh) -> None:
    two = (b"GET /status/201 HTTP/1.1\r\nHost: catalog\r\n\r\n"
           b"GET /status/202 HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")
    answer = await _raw(mesh.client_side.outbound_port, two)
    assert answer.index(b"HTTP/1.1 201") < answer.index(b"HTTP/1.1 202")


async def test_trace_context_propagates_and_spans_link(mesh: Mesh) -> None:
    status, _, _ = await _get(mesh, "/echo", headers={"traceparent": CALLER_TRACEPARENT,
                                                      "tracestate": "vendor=abc"})
    assert status == 200
    caller = parse_traceparent(CALLER_TRACEPARENT)
    assert caller is not None
    seen = parse_traceparent(mesh.app.seen[-1]["traceparent"])
    assert seen is not None and seen.trace_id == caller.trace_id
    assert mesh.app.seen[-1]["tracestate"] == "vendor=abc"

    await mesh.client_side.stop()
    await mesh.server_side.stop()  # stop flushes the batch processors
    (client,) = mesh.client_spans.get_finished_spans()
    (server,) = mesh.server_spans.get_finished_spans()
    assert client.kind is SpanKind.CLIENT and server.kind is SpanKind.SERVER
    assert client.context.trace_id == server.context.trace_id == caller.trace_id
    assert client.parent is not None and client.parent.span_id == caller.span_id
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert seen.span_id == server.context.span_id  # the app is the server span's child
    assert client.attributes is not None and server.attributes is not None
    assert client.attributes["meshlens.direction"] == "outbound"
    assert server.attributes["meshlens.direction"] == "inbound"
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["url.path"] == "/echo"
    assert server.attributes["http.response.status_code"] == 200
    assert client.attributes["server.address"] == "catalog"
    assert "network.peer.address" in server.attributes
    assert server.resource.attributes["service.name"] == "catalog"
    assert client.resource.attributes["service.name"] == "frontend"
    assert server.resource.attributes["service.version"] == "v1"


async def test_span_status_follows_semantic_conventions(mesh: Mesh) -> None:
    for code in (404, 503):
        status, _, _ = await _get(mesh, f"/status/{code}")
        assert status == code
    await mesh.client_side.stop()
    await mesh.server_side.stop()
    client = {s.attributes["http.response.status_code"]: s.status.status_code  # type: ignore[index]
              for s in mesh.client_spans.get_finished_spans()}
    server = {s.attributes["http.response.status_code"]: s.status.status_code  # type: ignore[index]
              for s in mesh.server_spans.get_finished_spans()}
    assert client == {404: StatusCode.ERROR, 503: StatusCode.ERROR}
    assert server == {404: StatusCode.UNSET, 503: StatusCode.ERROR}


async def test_admin_ready_and_config_dump(mesh: Mesh) -> None:
    base = f"http://127.0.0.1:{mesh.client_side.admin_port}"
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session:
        async with session.get(base + "/ready") as response:
            assert (response.status, await response.text()) == (200, "ready")
        async with session.get(base + "/config_dump") as response:
            dumped = json.loads(await response.text())
    assert dumped["service"] == "frontend"
    assert dumped["routes"][0]["host"] == "catalog"


async def test_stop_is_safe_before_start_and_twice_and_restarts() -> None:
    sidecar = Sidecar(_config("idle", 9), span_exporter=InMemorySpanExporter())
    await sidecar.stop()
    await sidecar.start()
    assert sidecar.ready and sidecar.inbound_port and sidecar.outbound_port
    await sidecar.stop()
    await sidecar.stop()
    await sidecar.start()
    assert sidecar.ready
    await sidecar.stop()
