"""Upgrade pass-through (WebSocket and other ``Upgrade`` protocols).

The upgrade request goes upstream with its ``Connection: Upgrade`` and
``Upgrade`` headers; when the upstream answers 101 the proxy relays that head and
then copies raw bytes both ways until either side closes, and closes both. Any
other answer is relayed as a normal response and the connection is closed (the
client's bytes after its request belong to a protocol that was refused).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from proxy.accept import Exchange
from proxy.body import BodyAborted, BodyStream
from proxy.http_codec import ResponseHead
from proxy.http_serialize import response_end_to_end, serialize_response_head
from proxy.upstream_pool import UpstreamConnection, UpstreamReset


async def relay_tunnel(exchange: Exchange, conn: UpstreamConnection,
                       response: ResponseHead) -> int:
    """Send the 101 head downstream and copy both ways; returns bytes sent downstream."""
    downstream = exchange.conn
    exchange.close_after = True
    headers = [*response_end_to_end(response), (b"Connection", b"Upgrade")]
    for key, value in response.headers:
        if key.lower() == b"upgrade":
            headers.append((b"Upgrade", value))
    downstream.write(serialize_response_head(101, response.reason, headers))
    sent = [0]
    up = asyncio.ensure_future(_copy(exchange.body, conn.write, conn.drain, None))
    down = asyncio.ensure_future(_copy(conn.body, downstream.write, downstream.drain, sent))
    try:
        await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
        if up.done() and not up.cancelled() and up.result():
            # the client half-closed: pass that on and let the upstream finish its side
            transport = conn.transport
            if transport is not None and not conn.closed and transport.can_write_eof():
                transport.write_eof()
            await asyncio.wait((down,), timeout=5.0)
    finally:
        for task in (up, down):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        conn.close()
        downstream.close()
    return sent[0]


async def _copy(source: BodyStream, write: Callable[[bytes], None],
                drain: Callable[[], Awaitable[None]], sent: list[int] | None) -> bool:
    """Copy until the source ends: True at a clean end (half-close), False when cut."""
    try:
        while chunk := await source.read():
            write(chunk)
            if sent is not None:
                sent[0] += len(chunk)
            await drain()
    except (BodyAborted, UpstreamReset):
        return False
    return True
