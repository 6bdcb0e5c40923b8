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


# More that a head read whole in one read (proxy.http_head_scan) must refuse as the
# callback path does: the scan itself refuses nothing, httptools and the checks do.
ONE_READ = {
    "bare_lf": HEAD + b"X-A: 1\nContent-Length: 4\r\n\r\nabcd",
    "bare_cr": HEAD + b"X-A: 1\rContent-Length: 4\r\n\r\nabcd",
    "same_cl_twice": HEAD + b"Content-Length: 4\r\ncontent-length: 4\r\n\r\nabcd",
    "cl_space_before_colon": HEAD + b"Content-Length : 4\r\n\r\nabcd",
    "cl_plus": HEAD + b"Content-Length: +4\r\n\r\nabcd",
    "invalid_name": HEAD + b"X A: 1\r\nContent-Length: 4\r\n\r\nabcd",
    "nul_in_value": HEAD + b"X-A: a\x00b\r\nContent-Length: 4\r\n\r\nabcd",
    "two_hosts": HEAD + b"Host: other\r\nContent-Length: 4\r\n\r\nabcd",
    "te_and_cl_any_case": HEAD + b"TRANSFER-ENCODING: chunked\r\ncontent-length: 4\r\n\r\n"
                                 b"0\r\n\r\n",
    "obs_fold_tab": HEAD + b"Content-Length: 4\r\nX-A: 1\r\n\tTransfer-Encoding: chunked\r\n"
                           b"\r\nabcd",
}
ATTACKS = {**SMUGGLING, **ONE_READ}


def _split_in_head(data: bytes) -> tuple[bytes, bytes]:
    """Two reads, the head whole in neither: the callback path."""
    at = data.find(b"\r\n") + 3
    return data[:at], data[at:]


@pytest.mark.parametrize("split", [False, True], ids=["one_read", "split"])
@pytest.mark.parametrize("name", sorted(ATTACKS))
async def test_bad_request_gets_4xx_closes_and_never_reaches_the_app(mesh: Mesh, name: str,
                                                                      split: bool) -> None:
    data = ATTACKS[name]
    pieces = _split_in_head(data) if split else (data,)
    answer = await _exchange(mesh.client_side.outbound_port, *pieces)
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
