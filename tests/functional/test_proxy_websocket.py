"""WebSocket (HTTP Upgrade) through outbound -> inbound -> app and back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.proxy_mesh import CLIENT_TIMEOUT, Mesh, running_app, running_mesh

RUN_ON_UVLOOP = True


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(f"echo:{message.data}")
            elif message.type is aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=403, text="no websockets here")

    async with running_app([web.get("/ws", echo), web.get("/refuse", refuse)]) as app, \
            running_mesh(app) as mesh:
        yield mesh


async def test_websocket_echo_through_two_sidecars(mesh: Mesh) -> None:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session, \
            session.ws_connect(mesh.outbound_url + "/ws", headers={"Host": "catalog"}) as ws:
        for i in range(3):
            await ws.send_str(f"hello {i}")
            assert await ws.receive_str(timeout=3) == f"echo:hello {i}"
        big = bytes(range(256)) * 1024
        await ws.send_bytes(big)
        assert await ws.receive_bytes(timeout=3) == big[::-1]
        await ws.close()
    assert ws.close_code == aiohttp.WSCloseCode.OK
    for _ in range(100):  # the tunnel (and its span) ends once both sides have closed
        if not mesh.client_side.stats()["outbound"]["open"]:
            break
        await asyncio.sleep(0.02)
    await mesh.client_side.stop()
    await mesh.server_side.stop()
    (client,) = mesh.client_spans.get_finished_spans()
    assert client.attributes is not None
    assert client.attributes["http.response.status_code"] == 101


async def test_refused_upgrade_is_relayed_and_the_connection_closed(mesh: Mesh) -> None:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await session.ws_connect(mesh.outbound_url + "/refuse", headers={"Host": "catalog"})
    assert caught.value.status == 403
