"""Upstream responses: the response half of the HTTP/1.1 codec (:mod:`proxy.http_codec`).

A malformed answer becomes :class:`~proxy.http_message.HttpError` 502 ("bad upstream
response"). A head that arrives whole in the first read of a response is scanned
(:mod:`proxy.http_head_scan`) and checked by a parser without header callbacks
(:mod:`proxy.http_fast_head`); anything else takes the callback path.
"""

from __future__ import annotations

import httptools

from proxy.http_codec import MessageSink, ParserAdapter
from proxy.http_fast_head import OneReadCallbacks, head_agrees
from proxy.http_head_scan import scan_response
from proxy.http_message import (
    HOP_BY_HOP,
    MAX_HEAD_BYTES,
    Framing,
    HttpError,
    ResponseHead,
    framing_from_headers,
)

_NO_BODY_STATUSES = frozenset({204, 304})


def _bad_upstream(exc: Exception) -> HttpError:
    cause = exc if isinstance(exc, HttpError) else exc.__context__
    reason = cause.reason if isinstance(cause, HttpError) else "malformed"
    return HttpError(502, f"bad upstream response: {reason}")


class ResponseParser(ParserAdapter):
    """Parses upstream responses; ``head_request`` because HEAD answers have no body.

    One parser serves a keep-alive connection's responses in turn: :meth:`reset`
    before each request, once the last response ended cleanly (``clean``).
    """

    __slots__ = ("_fast", "_fresh", "_head_request", "_on_fast", "_one_read", "_parser",
                 "_upgrade_requested", "clean", "done", "upgraded")

    def __init__(self, sink: MessageSink, head_request: bool = False,
                 max_head_bytes: int = MAX_HEAD_BYTES, upgrade: bool = False) -> None:
        super().__init__(sink, max_head_bytes)
        self._parser = httptools.HttpResponseParser(self)
        self._head_request = head_request
        self._upgrade_requested = upgrade
        self.done = False
        self.upgraded = False  # a 101 answer: every later byte is tunnel data (on_body)
        self.clean = False  # the last response ended where the next one may begin
        self.in_head = True
        # a head that comes whole in one read skips the header callbacks (proxy.http_fast_head)
        self._one_read = OneReadCallbacks(sink.on_body, self.on_message_complete)
        self._fast: httptools.HttpResponseParser | None = None
        self._fresh = True  # no byte of this response yet
        self._on_fast = False  # this response's body goes through the one-read parser

    def reset(self, head_request: bool, upgrade: bool) -> None:
        """Expect the answer to the next request (only when ``clean``)."""
        self._head_request = head_request
        self._upgrade_requested = upgrade
        self.done = self.upgraded = self.clean = self._on_fast = False
        self.in_head = self._fresh = True

    def feed(self, data: bytes) -> None:
        """Raises HttpError(502) when the upstream's answer cannot be parsed."""
        if self._fresh:
            self._fresh = False
            if not (self._head_request or self._upgrade_requested) and self._one_read_head(data):
                return
        if self._on_fast:
            self._feed_fast(data)
            return
        if self.upgraded:
            self._sink.on_body(data)
            return
        if self.done:
            raise HttpError(502, "data after a response without body")
        try:
            self._parser.feed_data(data)
            if self.in_head:
                self._count_head_bytes(len(data))
        except httptools.HttpParserUpgrade as upgrade:
            if not self.upgraded:
                raise HttpError(502, "bad upstream response: unexpected upgrade") from None
            offset = upgrade.args[0] if upgrade.args else len(data)
            if data[offset:]:
                self._sink.on_body(data[offset:])
        except (HttpError, httptools.HttpParserError) as exc:
            raise _bad_upstream(exc) from None

    def _one_read_head(self, data: bytes) -> bool:
        """A whole plain head in the first read, handed on; False: the callback path."""
        end = data.find(b"\r\n\r\n") + 4
        if end < 4:
            return False
        raw = data[:end]
        head = scan_response(raw, self._max_head)
        if head is None:
            return False
        fast = self._fast
        if fast is None:
            fast = self._fast = httptools.HttpResponseParser(self._one_read)
        one_read = self._one_read
        if not head_agrees(fast, one_read, raw, not head.has_body or head.content_length == 0):
            self._fast = None
            return False
        self._on_fast = True
        self.in_head = False
        self._sink.on_head(head)
        if one_read.ended:
            self.on_message_complete()
        if len(data) > end:  # (as _feed_fast does, without the call: once per response)
            try:
                fast.feed_data(data[end:])
            except (HttpError, httptools.HttpParserError) as exc:
                raise _bad_upstream(exc) from None
        return True

    def _feed_fast(self, data: bytes) -> None:
        assert self._fast is not None
        try:
            self._fast.feed_data(data)
        except (HttpError, httptools.HttpParserError) as exc:
            raise _bad_upstream(exc) from None

    def on_headers_complete(self) -> None:
        reason, headers, _, forwarded, lengths, codings, _, _ = self._end_of_head(
            HOP_BY_HOP, HOP_BY_HOP)
        self.clean = False
        parser = self._parser
        status = parser.get_status_code()
        if status == 101:
            if not self._upgrade_requested:
                raise HttpError(502, "101 without an upgrade request")
            self.upgraded = True
        elif 100 <= status < 200:
            self.in_head = True  # an interim answer: the final head follows
        framing, length = framing_from_headers(lengths, codings)
        no_body = (self._head_request or status in _NO_BODY_STATUSES
                   or (100 <= status < 200 and status != 101))
        if no_body:
            body_framing = Framing.NONE
        elif framing is Framing.NONE:
            body_framing = Framing.UNTIL_CLOSE
        else:
            body_framing = framing
        head = ResponseHead(
            status, reason, parser.get_http_version(), headers,
            parser.should_keep_alive(), body_framing, length, not no_body, forwarded)
        self._sink.on_head(head)
        if self._head_request:
            # httptools cannot be told to skip a HEAD answer's body: end it here.
            self.done = True
            self._sink.on_end()

    def on_message_complete(self) -> None:
        if not self.done and not self.upgraded:  # a tunnel ends when the upstream closes
            self.clean = True
            self._sink.on_end()


