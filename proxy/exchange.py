"""The exchange: one request on a downstream connection and the means to answer it.

What the accept stage hands to a listener's handler, and the two ways a handler
takes it: ``RequestHandler`` (a coroutine, run by the connection's worker task)
and, for a bodyless request with nothing ahead of it, ``InlineHandler`` (called
from the parser callback; see :mod:`proxy.inline_forward`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from proxy.body import BodyStream
from proxy.http_codec import RequestHead
from proxy.http_serialize import simple_response

if TYPE_CHECKING:
    from proxy.accept import Downstream


class Exchange:
    """One request on a downstream connection and the means to answer it."""

    __slots__ = ("body", "close_after", "conn", "head")

    def __init__(self, head: RequestHead, body: BodyStream, conn: Downstream) -> None:
        self.head = head
        self.body = body
        self.conn = conn
        self.close_after = not head.keep_alive

    def respond(self, status: int, body: bytes = b"",
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """A small response made by the proxy itself (errors, no route)."""
        self.conn.write(simple_response(status, body, headers, close=self.close_after))


RequestHandler = Callable[[Exchange], Awaitable[None]]
# A handler's ``inline(exchange)``: True when it took the exchange; it then calls
# ``exchange.conn.inline_done()`` once answered, or ``inline_continue(rest)`` to have
# the connection's worker await ``rest()`` (either maybe before returning). The
# connection hands the same Exchange to its next inline request once this one is
# done: nothing may keep it past that.
InlineHandler = Callable[[Exchange], bool]
RestOfExchange = Callable[[], Awaitable[None]]
NO_BODY = BodyStream.empty()  # ended and empty: shared by every bodyless request


class InlineExchange(Protocol):
    """An exchange in flight outside the worker: ``cancel`` when the client goes away
    (a no-op once its rest runs in the worker, which is cancelled instead)."""

    def cancel(self) -> None: ...
