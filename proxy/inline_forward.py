"""Forward stage without a task: a bodyless request relayed from protocol callbacks.

Most requests carry no body and get a small answer that arrives in one read. For
those, a forwarding coroutine and its two wakeups (request ready, response head
ready) cost more than the forwarding itself. :class:`InlineForward` writes the
request on an idle kept-alive connection from the downstream parser's callback,
and relays the answer from the upstream parser's callback once it is whole
(:func:`proxy.forward.relay_received`). Anything else continues as the usual
coroutine of :mod:`proxy.forward`, in the downstream connection's worker, from
the point reached:

- no idle connection: :func:`~proxy.forward.send` opens one (and waits for it);
- the kept-alive connection failed before answering (the upstream closed it while
  idle): ``send`` again, as ``send`` retries a stale connection itself;
- an answer still streaming (a large or slow body): :func:`~proxy.forward.relay`.

So both paths answer the same; only the common case skips the task. ``done`` gets
the :class:`~proxy.forward.Outcome` (None when the client went away first), once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from proxy.accept import Downstream, Exchange
from proxy.config import Endpoint
from proxy.forward import Answered, AttemptFailed, Outcome, fail, relay, relay_received, send
from proxy.http_codec import HttpError, ResponseHead
from proxy.upstream_pool import UpstreamConnection, UpstreamPool, UpstreamReset

Done = Callable[[Outcome | None], object]  # what it returns is not read
Relayed = Callable[[int], object]  # the status of an answer relayed whole
log = logging.getLogger(__name__)


def inline_forward(downstream: Downstream) -> InlineForward:
    """The connection's inline forward, made on first use: callers restart it with
    ``(conn.inline_forward or inline_forward(conn)).start(...)``, a call less per request."""
    forward = downstream.inline_forward
    if forward is None:  # one per connection, which has one inline exchange at a time
        forward = downstream.inline_forward = InlineForward()
    return forward


class InlineForward:
    """Bodyless exchanges forwarded from callbacks, one at a time; see the module docstring.

    A downstream connection keeps one (:func:`inline_forward`), cheaper to restart than
    to make, and :meth:`start` makes it serve the next exchange once the last is done:
    the connection offers no inline exchange while one is in flight, here or in the
    worker. Between exchanges it still holds the last one's references."""

    __slots__ = ("_conn", "_done", "_endpoint", "_exchange", "_finished", "_on_answer", "_pool",
                 "_relayed", "_request", "_running")

    _exchange: Exchange
    _pool: UpstreamPool
    _endpoint: Endpoint
    _request: bytes

    def __init__(self) -> None:
        self._done: Done | None = None
        self._relayed: Relayed | None = None
        self._conn: UpstreamConnection | None = None
        self._running = False  # the rest runs as a coroutine in the worker
        self._finished = True  # no exchange yet
        self._on_answer = self._on_response  # bound once, not per request

    def start(self, exchange: Exchange, pool: UpstreamPool, endpoint: Endpoint,
              request: bytes, done: Done | None, relayed: Relayed | None = None) -> None:
        """Forward ``exchange`` (bodyless) to ``endpoint``; ``request`` is its serialized
        head, the whole request, and ``done`` (None: nothing to report) gets the outcome;
        or, given ``relayed``, that gets the status of the usual end, an answer relayed
        whole from the callback (an Outcome less to make). The request is written now on
        an idle connection, or the rest continues in the worker."""
        self._exchange, self._pool, self._endpoint = exchange, pool, endpoint
        self._request = request  # the serialized head: the whole request
        self._done, self._relayed = done, relayed
        self._running = self._finished = False
        exchange.conn.inline = self
        conn = self._conn = pool.take_idle(endpoint)
        if conn is None:
            self._continue(self._send)
            return
        conn.begin(exchange.head.method == b"HEAD")  # head_request
        conn.on_response = self._on_answer
        conn.write(request)

    def cancel(self) -> None:
        """The client went away: drop the upstream exchange (once the rest runs in the
        worker, it is cancelled with the worker instead)."""
        if self._finished or self._running:
            return
        if self._conn is not None:
            self._conn.on_response = None
            self._conn.close()
        self._finish(None)

    def _on_response(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            response = conn.response_now()
        except (UpstreamReset, HttpError):
            # as send() treats a kept-alive connection that fails before its answer
            # (most often closed by the upstream while idle): once more, afresh
            conn.close()
            self._continue(self._send)
            return
        assert response is not None
        if not conn.complete:
            self._continue(lambda: self._relay(conn, response))
            return
        size = relay_received(self._exchange, conn, response)
        self._pool.release(conn)
        self._finished = True  # what _finish does, without the call
        relayed, done = self._relayed, self._done
        # an idle connection keeps its forward: not the last request's hop and bytes
        self._done = self._relayed = self._conn = None
        self._request = b""
        try:
            if relayed is not None:
                relayed(response.status)
            elif done is not None:  # else nothing to report: no Outcome to make
                done(Outcome(response.status, None, size))
        except Exception:  # from a protocol callback: log it, never break the connection
            log.exception("finishing a forwarded exchange failed")
        self._exchange.conn.inline_done()

    def _finish(self, outcome: Outcome | None) -> None:
        if not self._finished:
            self._finished = True
            done = self._done
            self._done = self._relayed = self._conn = None  # as _on_response says
            self._request = b""
            if done is None:
                return
            try:
                done(outcome)
            except Exception:  # from a protocol callback: log it, never break the connection
                log.exception("finishing a forwarded exchange failed")

    def _continue(self, rest: Callable[[], Awaitable[None]]) -> None:
        self._exchange.conn.inline_continue(rest)

    async def _send(self) -> None:
        self._running = True
        exchange = self._exchange
        outcome: Outcome | None = None
        try:
            try:
                answered = await send(exchange.head, exchange.body, self._pool,
                                      self._endpoint, self._request)
            except AttemptFailed as failure:
                outcome = fail(exchange, 502, failure.reason, failure.event)
                return
            outcome = await relay(exchange, self._pool, answered)
        finally:
            self._finish(outcome)

    async def _relay(self, conn: UpstreamConnection, response: ResponseHead) -> None:
        self._running = True
        outcome: Outcome | None = None
        try:
            outcome = await relay(self._exchange, self._pool, Answered(conn, response, None))
        finally:
            self._finish(outcome)
