"""Forward stage: send a downstream request upstream and relay the answer back.

Shared by inbound (to the local app) and outbound (to another sidecar). The
request body streams upstream in its own task while the response is read, so an
upstream may answer early; the response body streams back with its own framing
(length, chunked, or chunked for a close-delimited body).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Protocol

from proxy.accept import Exchange
from proxy.body import BodyAborted, BodyStream
from proxy.config import Endpoint
from proxy.http_codec import Framing, HttpError, RequestHead, ResponseHead
from proxy.http_serialize import (
    LAST_CHUNK,
    encode_chunk,
    response_end_to_end,
    serialize_response_head,
)
from proxy.tunnel import relay_tunnel
from proxy.upstream_pool import UpstreamConnection, UpstreamPool, UpstreamRefused, UpstreamReset

REASON_HEADER = b"x-meshlens-reason"
SpanEvent = tuple[str, dict[str, str | int]]  # name, attributes


@dataclass(slots=True)
class Outcome:
    """What happened: the status sent downstream and, for proxy failures, why."""

    status: int | None
    error: str | None = None
    response_size: int = 0
    event: SpanEvent | None = None  # for the hop's span: why the proxy failed it


class AttemptFailed(Exception):
    """An attempt that got no response head; ``reason`` is its ``x-meshlens-reason``."""

    def __init__(self, reason: str, event: SpanEvent | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event = event


@dataclass(slots=True)
class Answered:
    """An upstream response head, its body not yet relayed."""

    conn: UpstreamConnection
    response: ResponseHead
    pump: asyncio.Task[None] | None


class BodySource(Protocol):
    async def read(self) -> bytes: ...


async def forward(exchange: Exchange, pool: UpstreamPool, endpoint: Endpoint,
                  request: bytes) -> Outcome:
    """Relay ``exchange`` to ``endpoint``; ``request`` is the serialized head to send
    (:func:`proxy.http_serialize.forwarded_request_head`)."""
    try:
        answered = await send(exchange.head, exchange.body, pool, endpoint, request)
    except AttemptFailed as failure:
        return fail(exchange, 502, failure.reason, failure.event)
    return await relay(exchange, pool, answered)


async def send(head: RequestHead, body: BodySource, pool: UpstreamPool, endpoint: Endpoint,
               request: bytes) -> Answered:
    """Send a serialized request head (and stream ``body``) until the response head.

    Raises :class:`AttemptFailed`. The caller relays the answer with :func:`relay`
    or drops it with :func:`discard`.
    """
    # A reused connection may have been closed by the upstream while idle; a request
    # without body has not been consumed then, so one fresh attempt is safe.
    for attempt in (1, 2):
        try:
            conn, reused = await pool.acquire(endpoint)
        except UpstreamRefused as error:  # e.g. not the identity the destination has
            raise AttemptFailed(error.reason, error.event) from error
        except (TimeoutError, OSError) as error:
            raise AttemptFailed("upstream_connect_failure") from error
        pump: asyncio.Task[None] | None = None
        try:
            conn.begin(head_request=head.method == b"HEAD", upgrade=head.upgrade is not None)
            if head.framing is Framing.NONE:
                conn.write(request)
            elif isinstance(body, BodyStream) and body.ended:
                # the whole body is here already: one write, no pump task
                conn.writelines(_with_body(request, body, head.framing is Framing.CHUNKED))
            else:
                conn.write(request)
                pump = asyncio.get_running_loop().create_task(
                    _pump_request(body, conn, head.framing is Framing.CHUNKED))
            return Answered(conn, await conn.response_head(), pump)
        except (UpstreamReset, HttpError) as error:
            await _close(conn, pump)
            if reused and attempt == 1 and head.framing is Framing.NONE:
                continue
            reason = "upstream_reset" if isinstance(error, UpstreamReset) else \
                "upstream_protocol_error"
            raise AttemptFailed(reason) from error
        except BaseException:
            await _close(conn, pump)
            raise
    raise AttemptFailed("upstream_reset")


async def relay(exchange: Exchange, pool: UpstreamPool, answered: Answered) -> Outcome:
    """Relay an answer downstream, then return its connection to the pool."""
    conn, pump = answered.conn, answered.pump
    released = False
    try:
        if answered.response.status == 101:  # only answered to an upgrade request
            return Outcome(101, None, await relay_tunnel(exchange, conn, answered.response))
        outcome = await _relay_response(exchange, conn, answered.response)
        if pump is not None and not pump.done():
            conn.close()  # answered before reading the whole request: not reusable
        pool.release(conn)
        released = True
        return outcome
    finally:
        await _stop_pump(pump)
        if not released:
            conn.close()


async def discard(answered: Answered) -> None:
    """Drop an answer that will not be relayed (a retried 503): close its connection."""
    await _close(answered.conn, answered.pump)


async def _close(conn: UpstreamConnection, pump: asyncio.Task[None] | None) -> None:
    await _stop_pump(pump)
    conn.close()


async def _stop_pump(pump: asyncio.Task[None] | None) -> None:
    if pump is not None:
        pump.cancel()  # no-op when it finished; its error, if any, is read here
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


def fail(exchange: Exchange, status: int, reason: str, event: SpanEvent | None = None
         ) -> Outcome:
    """Answer with a proxy-made error carrying ``x-meshlens-reason``."""
    exchange.respond(status, reason.encode() + b"\n", [(REASON_HEADER, reason.encode())])
    return Outcome(status, reason, 0, event)


def _with_body(request: bytes, body: BodyStream, chunked: bool) -> list[bytes]:
    """The request head and a received body, framed, for one ``writelines``."""
    out = [request]
    while chunk := body.read_nowait():
        out.append(encode_chunk(chunk) if chunked else chunk)
    if chunked:
        out.append(LAST_CHUNK)
    return out


async def _pump_request(body: BodySource, conn: UpstreamConnection, chunked: bool) -> None:
    while chunk := await body.read():
        conn.write(encode_chunk(chunk) if chunked else chunk)
        await conn.drain()
    if chunked:
        conn.write(LAST_CHUNK)


def relay_received(exchange: Exchange, conn: UpstreamConnection, response: ResponseHead) -> int:
    """Relay a response received whole (``conn.complete``) in one write, without waiting,
    and return its body's size; the caller returns the connection to the pool (and makes
    the :class:`Outcome` only if someone reads it)."""
    raw, length = response.raw_head, response.content_length
    if (raw is not None and length is not None and response.framing is Framing.LENGTH
            and not exchange.close_after and exchange.head.version == "1.1"):
        # the usual answer: what _downstream_head makes of it, without the call; a whole
        # body framed by its length is that long
        exchange.conn.writelines([b"%bContent-Length: %d\r\n\r\n" % (raw, length),
                                  *conn.body.read_received()])
        return length
    head, chunked_out = _downstream_head(exchange, response)
    chunks = conn.body.read_received()
    size = sum(map(len, chunks))
    if chunked_out:
        exchange.conn.writelines([head, *map(encode_chunk, chunks), LAST_CHUNK])
    else:
        exchange.conn.writelines([head, *chunks])
    return size


def _downstream_head(exchange: Exchange, response: ResponseHead) -> tuple[bytes, bool]:
    """The response head as this hop sends it downstream, and whether its body goes
    out chunked."""
    request = exchange.head
    chunked_out = False
    framing = b""  # this hop's framing and connection lines
    if response.has_body:
        if response.framing is Framing.UNTIL_CLOSE:
            if request.version == "1.1":
                chunked_out = True
                framing = _CHUNKED_LINE
            else:
                exchange.close_after = True
        elif response.framing is Framing.CHUNKED:
            chunked_out = True
            framing = _CHUNKED_LINE
        elif response.content_length is not None:
            framing = b"Content-Length: %d\r\n" % response.content_length
    elif response.content_length is not None and request.method == b"HEAD":
        framing = b"Content-Length: %d\r\n" % response.content_length
    if exchange.close_after:
        framing += b"Connection: close\r\n"
    elif request.version == "1.0":
        framing += b"Connection: keep-alive\r\n"
    raw = response.raw_head
    if raw is not None:  # a one-read head: its lines go as they came
        return b"%b%b\r\n" % (raw, framing), chunked_out
    headers = response.forwarded
    if headers is None:
        headers = response_end_to_end(response)
    return serialize_response_head(response.status, response.reason, headers, framing), \
        chunked_out


_CHUNKED_LINE = b"Transfer-Encoding: chunked\r\n"


async def _relay_response(exchange: Exchange, conn: UpstreamConnection,
                          response: ResponseHead) -> Outcome:
    downstream = exchange.conn
    head, chunked_out = _downstream_head(exchange, response)
    # What has arrived goes out with the head in one write; the rest as it comes.
    pending = [head]
    body = conn.body
    size = 0
    try:
        while True:
            chunk = body.read_nowait()
            if chunk is None:
                downstream.writelines(pending)
                pending = []
                await downstream.drain()
                chunk = await body.read()
            if not chunk:
                break
            size += len(chunk)
            pending.append(encode_chunk(chunk) if chunked_out else chunk)
    except BodyAborted:
        # The head is already sent: the only honest signal left is closing.
        downstream.writelines(pending)
        exchange.close_after = True
        conn.close()
        return Outcome(response.status, "upstream_reset", size)
    if chunked_out:
        pending.append(LAST_CHUNK)
    downstream.writelines(pending)
    return Outcome(response.status, None, size)
