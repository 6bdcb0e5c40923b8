"""Bad input over real sockets: 4xx, a closed connection, nothing reaches the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.proxy_mesh import Mesh, running_app, running_mesh

RUN_ON_UVLOOP = True
MAX_BODY = 1000
HEAD = b"POST /echo HTTP/1.1\r\nHost: catalog\r\n"


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    completed: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        completed.append(dict(request.headers))  # only requests whose whole body arrived
        return web.Response(body=body)

    async with running_app([web.post("/echo", echo)]) as app, \
            running_mesh(app, max_request_body_bytes=MAX_BODY) as mesh:
        app.seen = completed
        yield mesh


async def _exchange(port: int, *pieces: bytes) -> bytes:
    """Send the pieces (pausing between them) and read until the proxy closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.02)
        return await asyncio.wait_for(reader.read(), 3)  # b"" only when closed: must close
    finally:
        writer.close()
        await writer.wait_closed()


SMUGGLING = {
    "cl_and_te": HEAD + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl": HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
    "duplicate_cl": HEAD + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "cl_list": HEAD + b"Content-Length: 4, 4\r\n\r\nabcd",
    "obs_fold": HEAD + b"Content-Length: 4\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\nabcd",
    "te_not_chunked": HEAD + b"Transfer-Encoding: gzip\r\n\r\nabcd",
    "te_chunked_not_last": HEAD + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te_with_space_name": HEAD + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "bad_chunk_size": HEAD + b"Transfer-Encoding: chunked\r\n\r\nxyz\r\nabc\r\n0\r\n\r\n",
    "chunk_size_overflow": HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
                                  b"ffffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
    "bad_request_line": b"GET /a b c HTTP/1.1\r\nHost: catalog\r\n\r\n",
    "no_host": b"GET / HTTP/1.1\r\n\r\n",
    "too_many_headers": b"GET / HTTP/1.1\r\nHost: catalog\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n",
    "huge_header": b"GET / HTTP/1.1\r\nHost: catalog\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
    "body_over_limit_by_length": HEAD + b"Content-Length: 1001\r\n\r\n" + b"a" * 1001,
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
async def test_bad_request_gets_4xx_closes_and_never_reaches_the_app(mesh: Mesh,
                                                                      name: str) -> None:
    answer = await _exchange(mesh.client_side.outbound_port, SMUGGLING[name])
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500 or status == 501, answer[:80]
    assert answer.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in answer
    assert mesh.app.seen == []
    assert mesh.server_side.stats()["inbound"]["accepted"] == 0  # not even a connection


async def test_smuggled_second_request_is_not_forwarded(mesh: Mesh) -> None:
    # classic CL.TE: a front end that trusted Content-Length would forward "GET /status/200"
    smuggled = (HEAD + b"Content-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"0\r\n\r\nGET /status/200 HTTP/1.1\r\nX: y")
    answer = await _exchange(mesh.client_side.outbound_port, smuggled)
    assert answer.startswith(b"HTTP/1.1 400 ") and mesh.app.seen == []


async def test_chunked_body_growing_past_the_limit_is_cut_off_with_413(mesh: Mesh) -> None:
    chunk = b"%x\r\n%b\r\n" % (600, b"a" * 600)
    answer = await _exchange(mesh.client_side.outbound_port,
                             HEAD + b"Transfer-Encoding: chunked\r\n\r\n", chunk, chunk, chunk)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in answer
    assert mesh.app.seen == []  # the app never got a complete request


async def test_body_within_the_limit_passes(mesh: Mesh) -> None:
    answer = await _exchange(mesh.client_side.outbound_port,
                             HEAD + b"Content-Length: 1000\r\nConnection: close\r\n\r\n"
                             + b"b" * 1000)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"b" * 1000)
    assert len(mesh.app.seen) == 1  # the app records what it receives: the checks can fail
