"""Upstream connections and the keep-alive pool per endpoint.

An :class:`UpstreamConnection` carries one request at a time (no pipelining):
the forwarder writes the request, then reads the response head and streams the
body. After a complete response on a keep-alive connection the forwarder
releases it to the :class:`UpstreamPool`, which hands it out again. ``ssl`` is
the transport-security seam for mTLS to the destination's inbound listener, and
``peer_check`` the seam for who must be at the other end: it sees each new
connection once, when its handshake is done, and refuses it by raising
:class:`UpstreamRefused` (the mesh identity checks the peer's SPIFFE ID there).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict, deque
from collections.abc import Callable
from typing import cast

from proxy.body import BodyAborted, BodyStream
from proxy.config import Endpoint
from proxy.http_codec import Framing, HttpError, RequestHead, ResponseHead
from proxy.http_response import ResponseParser
from proxy.tls_records import joins_pieces


class UpstreamReset(ConnectionError):
    """The upstream closed or broke the connection before its response head."""


class UpstreamRefused(ConnectionError):
    """A new connection the pool's ``peer_check`` refused: nothing was sent on it.

    ``reason`` becomes the ``x-meshlens-reason`` of the failure, ``event`` a span
    event (name, attributes) of the hop that wanted the connection.
    """

    def __init__(self, reason: str, event: tuple[str, dict[str, str | int]]) -> None:
        super().__init__(f"{reason}: {event[1]}")
        self.reason = reason
        self.event = event


_MAX_IDENTITIES = 1024  # endpoint objects take_idle remembers by identity
# Called with the endpoint and the connection's SSL object (None without TLS).
PeerCheck = Callable[[Endpoint, ssl.SSLObject | None], None]


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, endpoint: Endpoint, pool: UpstreamPool) -> None:
        self.endpoint = endpoint
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.requests = 0
        self._parser: ResponseParser | None = None
        self._spare: ResponseParser | None = None  # the last exchange's, reused when clean
        self._head: asyncio.Future[ResponseHead] | None = None  # made when someone waits
        self.body: BodyStream = BodyStream.empty()
        self._response: ResponseHead | None = None
        self._failure: Exception | None = None  # why this exchange got no response head
        # the whole response has been received (its body may still be unread); an
        # attribute, not a property: a forwarder reads it once per request
        self.complete = False
        # called once, from the protocol callbacks, when the response head is here (with
        # all of the response that came with it) or the exchange failed: lets a forwarder
        # relay a whole small answer without a task (proxy.inline_forward)
        self.on_response: Callable[[], None] | None = None
        self.idle_queue: deque[UpstreamConnection] | None = None  # the pool's, for its endpoint
        self._write_paused = False
        self._write_waiter: asyncio.Future[None] | None = None
        self._flow = (self._pause_reading, self._resume_reading)  # bound once, for bodies
        self._body_stream: BodyStream | None = None  # the last response body, for restart
        self._join_pieces = False  # over TLS: one record per writelines (joins_pieces)

    # lifecycle of one exchange

    def begin(self, head_request: bool, upgrade: bool = False) -> None:
        """Prepare for the next response (call before writing the request)."""
        self.requests += 1
        parser, self._spare = self._spare, None
        if parser is not None and parser.clean:
            parser.reset(head_request, upgrade)
        else:  # a first exchange, or one that left the parser mid-message (HEAD, upgrade)
            parser = ResponseParser(self, head_request=head_request, upgrade=upgrade)
        self._parser = parser
        self._head = None
        self._response = self._failure = None
        self.complete = False
        self.on_response = None

    async def response_head(self) -> ResponseHead:
        response = self.response_now()
        if response is not None:
            return response
        if self._head is None:
            self._head = asyncio.get_running_loop().create_future()
        return await self._head

    def response_now(self) -> ResponseHead | None:
        """The response head if it is here, None if not yet; raises why it will not come."""
        if self._response is None and self._failure is not None:
            raise self._failure
        return self._response

    def write(self, data: bytes) -> None:
        if self.transport is None or self.closed:
            raise UpstreamReset("upstream connection closed")
        self.transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        if self.transport is None or self.closed:
            raise UpstreamReset("upstream connection closed")
        if self._join_pieces and len(data) > 1:
            self.transport.write(b"".join(data))
        else:
            self.transport.writelines(data)

    async def drain(self) -> None:
        if self._write_paused and not self.closed:
            self._write_waiter = asyncio.get_running_loop().create_future()
            await self._write_waiter
        if self.closed:
            raise UpstreamReset("upstream connection closed")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike
        self.transport = cast(asyncio.Transport, transport)
        self._join_pieces = joins_pieces(transport)

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            self.close()  # bytes nobody asked for: the connection is not trustworthy
            return
        try:
            self._parser.feed(data)
        except HttpError as error:
            self._fail(error)
        callback = self.on_response
        if callback is not None and (self._response is not None or self._failure is not None):
            self.on_response = None  # as _notify, without the call: once per response
            callback()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.forget(self)
        response = self._response
        if response is not None and response.framing is Framing.UNTIL_CLOSE:
            self.complete = True
            self.body.end()
        self._fail(UpstreamReset("upstream closed the connection"))
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)
        if self.on_response is not None:
            self._notify()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)

    # MessageSink for the response parser

    def on_head(self, head: RequestHead | ResponseHead) -> None:
        assert isinstance(head, ResponseHead)
        if 100 <= head.status < 200 and head.status != 101:
            return  # interim answers stay with this hop (the proxy sent its own 100)
        if self.complete:
            # a second answer in the read that ended the first: the upstream is out of
            # step, and what it says next belongs to no request (the first is relayed)
            raise HttpError(502, "data after a response")
        self._response = head
        if head.has_body:
            body = self._body_stream  # one per connection, reused once read to its end
            if body is None or not body.restart():
                body = self._body_stream = BodyStream(*self._flow)
            self.body = body
        else:
            self.body = BodyStream.empty()
        if self._head is not None and not self._head.done():
            self._head.set_result(head)

    def on_body(self, chunk: bytes) -> None:
        self.body.feed(chunk)

    def on_end(self) -> None:
        if self._response is None:
            return  # end of an interim response
        self.complete = True
        self.body.end()
        self._spare, self._parser = self._parser, None  # idle: later bytes are nobody's

    def _notify(self) -> None:
        callback = self.on_response
        if callback is not None and (self._response is not None or self._failure is not None):
            self.on_response = None
            callback()

    def _fail(self, error: Exception) -> None:
        if self._response is None and self._failure is None:
            self._failure = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
            self._head.exception()  # retrieved here; the forwarder may already be gone
        if not self.complete:
            self.body.abort(BodyAborted(str(error)))
        if not self.closed:
            self.close()

    def _pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()


class UpstreamPool:
    """Idle keep-alive connections per endpoint, opened on demand."""

    def __init__(self, connect_timeout: float = 5.0, max_idle_per_endpoint: int = 32,
                 ssl_context: ssl.SSLContext | None = None,
                 peer_check: PeerCheck | None = None) -> None:
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle_per_endpoint
        self.ssl_context = ssl_context
        self.peer_check = peer_check
        self._idle: defaultdict[Endpoint, deque[UpstreamConnection]] = defaultdict(deque)
        self._all: set[UpstreamConnection] = set()
        self._by_identity: dict[int, tuple[Endpoint, deque[UpstreamConnection]]] = {}
        self.opened = 0

    async def acquire(self, endpoint: Endpoint) -> tuple[UpstreamConnection, bool]:
        """A connection to ``endpoint`` and whether it was reused; raises OSError
        (:class:`UpstreamRefused` when ``peer_check`` refuses a new one)."""
        conn = self.take_idle(endpoint)
        if conn is not None:
            return conn, True
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: UpstreamConnection(endpoint, self),
                                   endpoint.host, endpoint.port, ssl=self.ssl_context),
            self.connect_timeout,
        )
        if self.peer_check is not None:
            transport = protocol.transport
            try:
                self.peer_check(endpoint, transport.get_extra_info("ssl_object")
                                if transport is not None else None)
            except UpstreamRefused:
                protocol.close()
                raise
        self.opened += 1
        self._all.add(protocol)
        return protocol, False

    def take_idle(self, endpoint: Endpoint) -> UpstreamConnection | None:
        """A kept-alive connection to ``endpoint`` if one is idle, without waiting."""
        # By the endpoint object's identity first: a request path hands in the same few
        # objects (the app's, each destination's), and hashing an Endpoint runs Python
        # code. The entry keeps its endpoint alive, so the id is not reused meanwhile.
        known = self._by_identity.get(id(endpoint))
        if known is not None and known[0] is endpoint:
            idle = known[1]
        else:
            if len(self._by_identity) >= _MAX_IDENTITIES:  # endpoints of old configs
                self._by_identity.clear()
            idle = self._idle[endpoint]
            self._by_identity[id(endpoint)] = (endpoint, idle)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def release(self, conn: UpstreamConnection) -> None:
        """Back to the pool if it can carry another request, closed otherwise.

        Release only once the response body was read to its end (``b""`` read, or
        ``read_received``): the connection's next response reuses the same
        :class:`BodyStream` (``on_head``), so a reader still holding it would read the
        next response's bytes."""
        idle = conn.idle_queue
        if idle is None:  # once per connection: hashing an Endpoint runs Python code
            idle = conn.idle_queue = self._idle[conn.endpoint]
        # reusable: the whole response is here (and on_end has idled the connection:
        # later bytes are nobody's), the connection is open and kept alive upstream
        response = conn._response
        if (conn.complete and not conn.closed and response is not None and response.keep_alive
                and response.framing is not Framing.UNTIL_CLOSE and len(idle) < self.max_idle):
            idle.append(conn)
        else:
            conn.close()

    def forget(self, conn: UpstreamConnection) -> None:
        self._all.discard(conn)
        idle = self._idle.get(conn.endpoint)
        if idle and conn in idle:
            idle.remove(conn)

    def idle_count(self, endpoint: Endpoint | None = None) -> int:
        if endpoint is not None:
            return len(self._idle.get(endpoint, ()))
        return sum(len(q) for q in self._idle.values())

    async def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        for idle in self._idle.values():  # emptied, not dropped: connections keep theirs
            idle.clear()
        await asyncio.sleep(0)  # let the transports run connection_lost
