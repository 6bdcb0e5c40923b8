"""One-read heads through httptools without per-header callbacks.

The parsers in :mod:`proxy.http_codec` keep two httptools parsers per stream: the
callback one, which reports every header (any head, in any number of reads), and
this one, which reports only the end of a head, body chunks and the end of a
message. A whole head the scan accepted (:mod:`proxy.http_head_scan`) is fed here
first, alone: it is handed on only if httptools accepts it, sees exactly one head,
keeps the connection alive and ends the message where the scan's framing says.
Anything else drops this parser (its state is spent) and the same bytes go to
the callback parser from the same message boundary: the answer is then exactly
the callback path's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httptools

from proxy.http_message import HttpError


class OneReadCallbacks:
    """httptools callbacks of the parser without header callbacks.

    Until the head is handed on (``live`` False) they only count; after it, body
    chunks and the end go to ``on_body`` and ``on_end``. A second head in the same
    stream while live is refused: the callers feed a request parser one message at
    a time, and a response is the only message until the next request.
    """

    __slots__ = ("body_left", "ended", "keep_alive", "live", "on_body", "on_end", "parser")

    def __init__(self, on_body: Callable[[bytes], None], on_end: Callable[[], None]) -> None:
        self.on_body = on_body
        self.on_end = on_end
        self.ended = self.live = False
        # None until a head was seen; False also when a second one came before hand-on
        self.keep_alive: bool | None = None
        self.parser: Any = None  # the httptools parser these are the callbacks of
        self.body_left = 0  # body bytes of a request still to come (feed_body)

    def on_headers_complete(self) -> None:
        if self.live:
            raise HttpError(502, "data after a response")
        # asked here: once the message has ended httptools no longer knows
        self.keep_alive = self.parser.should_keep_alive() if self.keep_alive is None else False

    def feed_body(self, parser: Any, data: bytes) -> bytes:
        """Body bytes of a request with Content-Length; returns those after its end."""
        left = self.body_left
        try:
            if len(data) <= left:
                self.body_left = left - len(data)
                parser.feed_data(data)
                return b""
            self.body_left = 0
            parser.feed_data(data[:left])
        except httptools.HttpParserError as exc:  # not expected: counted bytes of a body
            raise HttpError(400, "malformed request") from exc
        return data[left:]

    def on_message_complete(self) -> None:
        if self.live:
            self.on_end()
        else:
            self.ended = True


def head_agrees(parser: Any, callbacks: OneReadCallbacks, head: bytes, ends: bool) -> bool:
    """Feed a whole head to ``parser`` (one without header callbacks): True when
    httptools accepts it as one kept-alive head whose message ends with it exactly
    when ``ends``; then ``callbacks`` are live. False: ``parser`` is spent."""
    callbacks.live = callbacks.ended = False
    callbacks.keep_alive = None
    callbacks.parser = parser
    try:
        parser.feed_data(head)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):
        return False
    if callbacks.ended is not ends or not callbacks.keep_alive:  # (two heads: False)
        return False
    callbacks.live = True
    return True
