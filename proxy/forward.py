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

from proxy.accept import Exchange
from proxy.body import BodyAborted, BodyStream
from proxy.config import Endpoint
from proxy.http_codec import (
    LAST_CHUNK,
    Framing,
    Headers,
    HttpError,
    ResponseHead,
    encode_chunk,
    end_to_end_headers,
    framing_headers,
    serialize_request_head,
    serialize_response_head,
)
from proxy.upstream_pool import UpstreamConnection, UpstreamPool, UpstreamReset

REASON_HEADER = b"x-meshlens-reason"


@dataclass(slots=True)
class Outcome:
    """What happened: the status sent downstream and, for proxy failures, why."""

    status: int | None
    error: str | None = None
    response_size: int = 0


async def forward(exchange: Exchange, pool: UpstreamPool, endpoint: Endpoint, target: bytes,
                  headers: Headers) -> Outcome:
    """Relay ``exchange`` to ``endpoint``; ``headers`` are end-to-end, framing is added here."""
    head = exchange.head
    request = serialize_request_head(
        head.method, target, headers + framing_headers(head.framing, head.content_length)
    )
    # A reused connection may have been closed by the upstream while idle; a request
    # without body has not been consumed then, so one fresh attempt is safe.
    for attempt in (1, 2):
        try:
            conn, reused = await pool.acquire(endpoint)
        except (TimeoutError, OSError):
            return fail(exchange, 502, "upstream_connect_failure")
        pump: asyncio.Task[None] | None = None
        released = False
        try:
            conn.begin(head_request=head.method == b"HEAD")
            try:
                conn.write(request)
                if head.framing is not Framing.NONE:
                    pump = asyncio.get_running_loop().create_task(
                        _pump_request(exchange.body, conn, head.framing is Framing.CHUNKED))
                response = await conn.response_head()
            except (UpstreamReset, HttpError) as error:
                if reused and attempt == 1 and head.framing is Framing.NONE:
                    continue
                reason = "upstream_reset" if isinstance(error, UpstreamReset) else \
                    "upstream_protocol_error"
                return fail(exchange, 502, reason)
            outcome = await _relay_response(exchange, conn, response)
            if pump is not None and not pump.done():
                conn.close()  # answered before reading the whole request: not reusable
            pool.release(conn)
            released = True
            return outcome
        finally:
            if pump is not None:
                pump.cancel()  # no-op when it finished; its error, if any, is read below
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
            if not released:
                conn.close()
    return fail(exchange, 502, "upstream_reset")


def fail(exchange: Exchange, status: int, reason: str) -> Outcome:
    """Answer with a proxy-made error carrying ``x-meshlens-reason``."""
    exchange.respond(status, reason.encode() + b"\n", [(REASON_HEADER, reason.encode())])
    return Outcome(status, reason)


async def _pump_request(body: BodyStream, conn: UpstreamConnection, chunked: bool) -> None:
    while chunk := await body.read():
        conn.write(encode_chunk(chunk) if chunked else chunk)
        await conn.drain()
    if chunked:
        conn.write(LAST_CHUNK)


async def _relay_response(exchange: Exchange, conn: UpstreamConnection,
                          response: ResponseHead) -> Outcome:
    downstream = exchange.conn
    request = exchange.head
    headers = end_to_end_headers(response.headers)
    chunked_out = False
    if response.has_body:
        if response.framing is Framing.UNTIL_CLOSE:
            if request.version == "1.1":
                chunked_out = True
                headers += framing_headers(Framing.CHUNKED, None)
            else:
                exchange.close_after = True
        else:
            chunked_out = response.framing is Framing.CHUNKED
            headers += framing_headers(response.framing, response.content_length)
    elif response.content_length is not None and request.method == b"HEAD":
        headers += framing_headers(Framing.LENGTH, response.content_length)
    if exchange.close_after:
        headers.append((b"Connection", b"close"))
    elif request.version == "1.0":
        headers.append((b"Connection", b"keep-alive"))
    downstream.write(serialize_response_head(response.status, response.reason, headers))
    size = 0
    try:
        while chunk := await conn.body.read():
            size += len(chunk)
            downstream.write(encode_chunk(chunk) if chunked_out else chunk)
            await downstream.drain()
    except BodyAborted:
        # The head is already sent: the only honest signal left is closing.
        exchange.close_after = True
        conn.close()
        return Outcome(response.status, "upstream_reset", size)
    if chunked_out:
        downstream.write(LAST_CHUNK)
    return Outcome(response.status, None, size)
