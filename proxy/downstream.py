"""Downstream stage: one client connection, its requests parsed and served in order.

Each request is handed, one at a time and in order, to the listener's handler
(inbound or outbound). Bad input is answered with 400/413/431/501 and the
connection closed; the request is never handed on. A body that grows past the
limit while it is being forwarded aborts the exchange: the client gets 413 if no
answer has started, the connection closes, and the upstream never sees a
complete request.

After an ``Upgrade`` request the parser steps aside: the bytes that follow are
the exchange's body stream, which the tunnel relays once the upstream agrees
(101), until either side closes.

A bodyless request with nothing ahead of it goes to the handler's ``inline``
method, if it has one, from the parser callback (see :mod:`proxy.exchange`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, cast

from proxy.body import BodyAborted, BodyStream
from proxy.config import Endpoint
from proxy.exchange import NO_BODY, Exchange, InlineExchange, RestOfExchange
from proxy.http_codec import Framing, HttpError, RequestHead, RequestParser, ResponseHead
from proxy.http_serialize import simple_response
from proxy.interception import original_destination
from proxy.tls_records import joins_pieces

if TYPE_CHECKING:
    from proxy.accept import Listener
    from proxy.inline_forward import InlineForward
    from proxy.route import RequestPicks

log = logging.getLogger("proxy.accept")  # the accept stage's log, as before the split
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_MAX_PIPELINED = 16


class Downstream(asyncio.Protocol):
    """A connection from a client (the app, or another sidecar).

    One worker task per connection serves its requests in order and waits for
    the next one when idle (cheaper than a task per request); a bodyless request
    with nothing ahead of it goes to the handler's inline path without it, and
    the worker starts only if that needs to wait (``inline_continue``).
    """

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._parser = RequestParser(self, listener.max_head_bytes, listener.max_body_bytes)
        self._queue: deque[Exchange | HttpError] = deque()
        self._body: BodyStream | None = None
        self._body_owner: Exchange | None = None  # the exchange whose body is arriving
        self._tunnel: BodyStream | None = None  # bytes after an upgrade request
        self._current: Exchange | None = None
        self._current_answered = False
        self._inline_exchange: Exchange | None = None  # reused by inline exchanges (on_head)
        self.inline: InlineExchange | None = None  # the exchange in flight without the worker
        self._rest: RestOfExchange | None = None  # its continuation, for the worker
        self._worker: asyncio.Task[None] | None = None
        self._idle: asyncio.Future[None] | None = None  # the worker waits for a request
        self._busy = False  # the worker is handling a request
        self._write_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._reading_paused = False
        self._paused_for_body = False
        self._paused_for_queue = False
        self._input_closed = False
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.original_dst: Endpoint | None = None  # set when iptables redirected us
        # the inbound handler's span attributes for this connection's requests, with the
        # Host value and HTTP version they were made for (proxy.inbound)
        self.span_attributes: tuple[bytes, str, dict[str, str | int]] | None = None
        # serves this connection's bodyless requests in turn (proxy.inline_forward)
        self.inline_forward: InlineForward | None = None
        # the outbound handler's endpoint picks for those, restarted per request
        self.route_picks: RequestPicks | None = None
        self.closed = False
        self._join_pieces = False  # see writelines

    @property
    def in_flight(self) -> bool:
        """A request is being answered or waits its turn (closing now would drop it)."""
        return self._busy or bool(self._queue)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike
        self.transport = cast(asyncio.Transport, transport)
        self._join_pieces = joins_pieces(transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer = (str(peer[0]), int(peer[1]))
        if self._listener.transparent:
            self.original_dst = original_destination(transport.get_extra_info("socket"))
        self._listener.connections.add(self)
        self._listener.accepted += 1

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self._tunnel is not None:
            self._tunnel.feed(data)
            return
        try:
            rest = self._parser.feed(data)
        except HttpError as error:
            self._reject(error)
            return
        if rest and self._tunnel is not None:
            self._tunnel.feed(rest)

    def eof_received(self) -> bool:
        if self._tunnel is not None:
            self._tunnel.end()  # the client is done sending; the answer may still come
            return True
        self._input_closed = True
        if self._body is not None:
            self._body.abort()
        # Half-close with a request in flight: answer it, then close (True keeps
        # the transport open); with nothing in flight let the transport close.
        return bool(self._queue) or self._busy

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._listener.connections.discard(self)
        if self.inline is not None:
            self.inline.cancel()  # no-op once its rest runs in the worker (cancelled below)
        if self._body is not None:
            self._body.abort(BodyAborted("downstream closed"))
        if self._tunnel is not None:
            # a tunnel ends when either side closes: it winds down on its own (no cancel)
            self._tunnel.abort(BodyAborted("downstream closed"))
        elif self._worker is not None and not self._worker.done():
            self._worker.cancel()
        self._wake_writer()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    # MessageSink for the request parser

    def on_head(self, head: RequestHead | ResponseHead) -> None:
        assert isinstance(head, RequestHead)
        if self._input_closed:  # closed (answered with Connection: close, or refused)
            return
        exchange: Exchange
        if head.upgrade is not None:
            self._tunnel = BodyStream(self._pause_for_body, self._resume_for_body)
            exchange = Exchange(head, self._tunnel, self)
            exchange.close_after = True
            self._body = None
        elif head.framing is Framing.NONE:
            self._body = None
            inline = self._listener.inline
            if (inline is not None and not self._busy and not self._queue
                    and not self._write_paused):
                # nothing in flight: the last inline exchange is over, and a connection's
                # inline exchanges take turns in one Exchange (a new one costs ~2k
                # instructions)
                if self._inline_exchange is None:
                    exchange = self._inline_exchange = Exchange(head, NO_BODY, self)
                else:
                    exchange = self._inline_exchange
                    exchange.head, exchange.close_after = head, not head.keep_alive
                self._body_owner = self._current = exchange
                self._current_answered, self._busy = False, True
                try:  # offered to the handler's inline path
                    if inline(exchange):
                        return  # it may be answered already: leave _busy to inline_done
                except Exception as error:
                    self._inline_failed(error)
                    return
                self._busy = False
                self._inline_exchange = None  # queued: the worker's from now on
            else:
                exchange = Exchange(head, NO_BODY, self)
        else:
            body = BodyStream(self._pause_for_body, self._resume_for_body)
            exchange = Exchange(head, body, self)
            self._body = body
        self._body_owner = exchange
        self._queue.append(exchange)
        if len(self._queue) > _MAX_PIPELINED:
            self._paused_for_queue = True
            self._update_reading()
        self._ensure_worker()

    def on_body(self, chunk: bytes) -> None:
        if self._body is not None:
            self._body.feed(chunk)

    def on_end(self) -> None:
        if self._body is not None:
            self._body.end()
            self._body = None

    # writing

    def write(self, data: bytes) -> None:
        self._current_answered = True
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        """Several pieces in one send (a head and the body that came with it): over TLS
        in one record too (:func:`joins_pieces`)."""
        self._current_answered = True
        if self.transport is not None and not self.closed and data:
            if self._join_pieces and len(data) > 1:
                self.transport.write(b"".join(data))
            else:
                self.transport.writelines(data)

    async def drain(self) -> None:
        if self.closed:
            raise BodyAborted("downstream closed")
        if self._write_paused:
            self._write_waiter = asyncio.get_running_loop().create_future()
            await self._write_waiter
            if self.closed:
                raise BodyAborted("downstream closed")

    def close(self) -> None:
        self._input_closed = True  # requests still in the parser's input are never served
        if self.transport is not None and not self.closed:
            self.transport.close()

    # internals

    def _wake_writer(self) -> None:
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)

    def _pause_for_body(self) -> None:
        self._paused_for_body = True
        self._update_reading()

    def _resume_for_body(self) -> None:
        self._paused_for_body = False
        self._update_reading()

    def _update_reading(self) -> None:
        if self.transport is None or self.closed:
            return
        pause = self._input_closed or self._paused_for_body or self._paused_for_queue
        if pause and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        elif not pause and self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()

    def _reject(self, error: HttpError) -> None:
        self._input_closed = True
        self._update_reading()
        if self._body is not None:
            self._body.abort(BodyAborted(error.reason))
            self._body = None
            owner = self._body_owner
            if owner is not None and owner is self._current:
                # already on its way upstream: answer now if we still can, and cut it off
                if not self._current_answered:
                    self.write(_refusal(error))
                self._listener.rejected += 1
                self.close()
                return
            if owner is not None and owner in self._queue:
                self._queue.remove(owner)  # never handed on
        self._queue.append(error)
        self._ensure_worker()

    def _inline_failed(self, error: Exception) -> None:
        """The handler's inline path raised (an HttpError before it wrote anything)."""
        if isinstance(error, HttpError):
            self.write(_refusal(error))
        else:
            log.exception("%s: request handler failed", self._listener.name)
        self._busy = False
        self.close()

    def inline_done(self) -> None:
        """The inline exchange is answered: the requests queued behind it may go."""
        self.inline, self._busy = None, False
        if self.closed:
            return
        if self._current is not None and self._current.close_after:
            self.close()
        elif self._queue:
            self._ensure_worker()
        elif self._input_closed:
            self.close()

    def inline_continue(self, rest: RestOfExchange) -> None:
        """The inline exchange has to wait after all: the worker runs ``rest`` first."""
        self._rest = rest
        self._ensure_worker()

    def _ensure_worker(self) -> None:
        if self.inline is not None and self._rest is None:
            return  # the inline exchange goes first; its end starts the worker
        idle = self._idle
        if idle is not None:
            self._idle = None
            if not idle.done():
                idle.set_result(None)
        elif self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        handler = self._listener.handler
        queue = self._queue
        try:
            while not self.closed:
                rest = self._rest
                if rest is not None:  # an inline exchange's remainder
                    self._rest = None
                    await rest()
                    self.inline, self._busy = None, False
                    if self._current is not None and self._current.close_after:
                        self.close()
                        return
                    continue
                if not queue:
                    if self._input_closed:
                        self.close()
                        return
                    self._idle = asyncio.get_running_loop().create_future()
                    await self._idle
                    continue
                item = queue.popleft()
                self._busy = True  # from here: an inline request must not overtake it
                if isinstance(item, HttpError):
                    self._listener.rejected += 1
                    self.write(_refusal(item))
                    self.close()
                    return
                if self._paused_for_queue and len(self._queue) <= _MAX_PIPELINED:
                    self._paused_for_queue = False
                    self._update_reading()
                if self._write_paused:  # a client that sends without reading: wait for it
                    await self.drain()
                self._current, self._current_answered = item, False
                if (not item.body.ended and item.head.version == "1.1"
                        and (item.head.header(b"expect") or b"").lower() == b"100-continue"):
                    self.write(_CONTINUE)
                    self._current_answered = False  # interim: a final answer may follow
                await handler(item)
                self._busy = False
                if item.close_after or not item.body.ended:
                    self.close()
                    return
        except BodyAborted:
            self.close()
        except HttpError as error:  # raised by a handler before it wrote anything
            self.write(_refusal(error))
            self.close()
        except Exception:
            log.exception("%s: request handler failed", self._listener.name)
            self.close()
        finally:
            self._worker = self._idle = None
            self._busy = False
            self.inline = self._rest = None


def _refusal(error: HttpError) -> bytes:
    return simple_response(error.status, error.reason.encode() + b"\n", close=True)
