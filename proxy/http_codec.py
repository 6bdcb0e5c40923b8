"""HTTP/1.1 codec: httptools' C parser plus the checks a proxy owes its upstreams.

Parsing reports to a sink (head, body chunks, end) so bodies stream. The checks
httptools does not make for us, or that we want as explicit statuses: header
block size and header count (431), body size (413), Content-Length together
with Transfer-Encoding, repeated or bad Content-Length, missing or repeated Host
(400), CONNECT and upgrades that carry a body (501). httptools itself rejects
obs-fold, bad chunk sizes and other malformed framing (400). A request that
fails a check is never handed to the sink, so never forwarded.

An ``Upgrade`` request (WebSocket) is handed on with ``upgrade`` set; after it the
parser stops and the bytes that follow are the tunnel's (``RequestParser.feed``
returns them).
"""

from __future__ import annotations

from typing import Protocol

import httptools

from proxy.http_message import (
    HOP_BY_HOP,
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    REQUEST_NOTED,
    Framing,
    Headers,
    HttpError,
    RequestHead,
    ResponseHead,
    split_target,
    target_path,
)

# the message model is re-exported: a parser's users need both
__all__ = ["MAX_BODY_BYTES", "MAX_HEAD_BYTES", "Framing", "Headers", "HttpError", "MessageSink",
           "RequestHead", "RequestParser", "ResponseHead", "ResponseParser", "split_target",
           "target_path"]
_NO_BODY_STATUSES = frozenset({204, 304})


class MessageSink(Protocol):
    def on_head(self, head: RequestHead | ResponseHead) -> None: ...
    def on_body(self, chunk: bytes) -> None: ...
    def on_end(self) -> None: ...


def _framing(lengths: list[bytes] | None, codings: list[bytes] | None
             ) -> tuple[Framing, int | None]:
    """Body framing from the Content-Length and Transfer-Encoding values; raises
    HttpError when ambiguous."""
    if lengths and codings:
        raise HttpError(400, "both Content-Length and Transfer-Encoding")
    if codings:
        tokens = [t.strip().lower() for v in codings for t in v.split(b",")]
        if tokens != [b"chunked"]:
            raise HttpError(501 if tokens[-1:] == [b"chunked"] else 400,
                            "unsupported Transfer-Encoding")
        return Framing.CHUNKED, None
    if lengths:
        if len(lengths) > 1:
            raise HttpError(400, "repeated Content-Length")
        text = lengths[0].strip()
        if not text.isdigit() or len(text) > 18:
            raise HttpError(400, "invalid Content-Length")
        return Framing.LENGTH, int(text)
    return Framing.NONE, None


# what a head's headers say, sorted in one pass (see _ParserAdapter)
_Sorted = tuple[Headers, Headers, list[bytes] | None, list[bytes] | None, int, bytes | None]


def _sort_headers(headers: Headers, noted_names: frozenset[bytes], kept: frozenset[bytes],
                  unforwarded: frozenset[bytes]) -> _Sorted:
    """(noted, forwarded, Content-Length values, Transfer-Encoding values, Host count,
    Upgrade value) of a head's headers."""
    noted: Headers = []
    forwarded: Headers = []
    lengths = codings = connection = None
    hosts = 0
    upgrade = None
    for pair in headers:
        low = pair[0].lower()
        if low not in noted_names:
            forwarded.append(pair)
            continue
        value = pair[1]
        noted.append((low, value))
        if low in kept:
            forwarded.append(pair)
        if low == b"host":
            hosts += 1
        elif low == b"content-length":
            lengths = [value] if lengths is None else [*lengths, value]
        elif low == b"transfer-encoding":
            codings = [value] if codings is None else [*codings, value]
        elif low == b"connection":
            connection = [value] if connection is None else [*connection, value]
        elif low == b"upgrade" and upgrade is None:
            upgrade = value
    if connection is not None:  # the headers it names are hop-by-hop too
        named = {t.strip().lower() for v in connection for t in v.split(b",")}
        named.difference_update(unforwarded)  # not forwarded anyway
        if named:
            forwarded = [(k, v) for k, v in forwarded if k.lower() not in named]
    return noted, forwarded, lengths, codings, hosts, upgrade


class _ParserAdapter:
    """httptools callbacks shared by the request and response parsers.

    A header callback only collects (the C parser calls it once per header, so it
    is kept short); at the end of the head the headers are sorted in one pass: all
    in ``headers``; those named in ``noted_names`` also in ``noted`` (lowercase
    name); the rest, and ``kept`` ones, in ``forwarded``, without the headers a
    Connection header names.
    """

    __slots__ = ("_head_size", "_headers", "_kept", "_max_head", "_noted_names", "_sink",
                 "_unforwarded", "_url", "in_head")

    def __init__(self, sink: MessageSink, max_head_bytes: int, noted_names: frozenset[bytes],
                 kept: frozenset[bytes] = frozenset()) -> None:
        self._sink = sink
        self._max_head = max_head_bytes
        self._noted_names = noted_names
        self._kept = kept
        self._unforwarded = noted_names - kept
        self._headers: Headers = []
        self._url = b""
        self._head_size = 0
        self.in_head = False

    def on_message_begin(self) -> None:
        self._headers = []
        self._url = b""
        self._head_size = 0
        self.in_head = True

    def on_url(self, piece: bytes) -> None:
        self._url += piece
        self._head_size += len(piece)
        if self._head_size > self._max_head:
            raise HttpError(431, "request header fields too large")

    def on_status(self, piece: bytes) -> None:
        self._url += piece

    def on_header(self, name: bytes, value: bytes | None) -> None:
        value = value or b""
        headers = self._headers
        headers.append((name, value))
        self._head_size += len(name) + len(value) + 4
        if self._head_size > self._max_head:
            raise HttpError(431, "request header fields too large")
        if len(headers) > MAX_HEADERS:
            raise HttpError(431, "too many header fields")

    def _sorted(self) -> _Sorted:
        return _sort_headers(self._headers, self._noted_names, self._kept, self._unforwarded)

    def on_body(self, chunk: bytes) -> None:
        self._sink.on_body(chunk)

    def on_message_complete(self) -> None:
        self._sink.on_end()


_HOST_KEPT = frozenset({b"host"})


class RequestParser(_ParserAdapter):
    """Feeds bytes from a downstream connection; raises HttpError on bad input."""

    __slots__ = ("_body_bytes", "_max_body", "_parser", "_raw_head_bytes", "upgraded")

    def __init__(self, sink: MessageSink, max_head_bytes: int = MAX_HEAD_BYTES,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        super().__init__(sink, max_head_bytes, REQUEST_NOTED, kept=_HOST_KEPT)
        self._parser = httptools.HttpRequestParser(self)
        self._raw_head_bytes = 0
        self._max_body = max_body_bytes
        self._body_bytes = 0
        self.upgraded = False

    def feed(self, data: bytes) -> bytes:
        """Parse ``data``; after an upgrade request, returns the bytes that follow it."""
        if self.upgraded:
            return data
        try:
            self._parser.feed_data(data)
        except HttpError:
            raise
        except httptools.HttpParserUpgrade as upgrade:
            if not self.upgraded:
                raise HttpError(501, "protocol upgrade not supported") from None
            offset = upgrade.args[0] if upgrade.args else len(data)
            return data[offset:]
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, HttpError):
                raise cause from None
            raise HttpError(400, "malformed request") from exc
        if self.in_head:
            # A head that never ends is bounded too, not only the parsed parts.
            self._raw_head_bytes += len(data)
            if self._raw_head_bytes > 2 * self._max_head:
                raise HttpError(431, "request header fields too large")
        else:
            self._raw_head_bytes = 0
        return b""

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._raw_head_bytes = 0
        self._body_bytes = 0
        parser = self._parser
        method = parser.get_method()
        if method == b"CONNECT":
            raise HttpError(501, "CONNECT not supported")
        version = parser.get_http_version()
        noted, forwarded, lengths, codings, hosts, upgrade_value = self._sorted()
        if hosts > 1 or (version == "1.1" and not hosts):
            raise HttpError(400, "exactly one Host header is required")
        if lengths is None and codings is None:
            framing, length = Framing.NONE, None
        else:
            framing, length = _framing(lengths, codings)
            if length is not None and length > self._max_body:
                raise HttpError(413, "request body too large")
        upgrade = None
        if parser.should_upgrade():
            upgrade = upgrade_value
            if upgrade is None or framing is not Framing.NONE or version != "1.1":
                raise HttpError(501, "protocol upgrade not supported")
            self.upgraded = True
        self._sink.on_head(RequestHead(
            method, self._url, version, self._headers, parser.should_keep_alive(), framing,
            length, upgrade, noted, forwarded))

    def on_body(self, chunk: bytes) -> None:
        self._body_bytes += len(chunk)
        if self._body_bytes > self._max_body:
            raise HttpError(413, "request body too large")
        self._sink.on_body(chunk)


class ResponseParser(_ParserAdapter):
    """Parses upstream responses; ``head_request`` because HEAD answers have no body.

    One parser serves a keep-alive connection's responses in turn: :meth:`reset`
    before each request, once the last response ended cleanly (``clean``).
    """

    __slots__ = ("_head_request", "_parser", "_upgrade_requested", "clean", "done", "upgraded")

    def __init__(self, sink: MessageSink, head_request: bool = False,
                 max_head_bytes: int = MAX_HEAD_BYTES, upgrade: bool = False) -> None:
        super().__init__(sink, max_head_bytes, HOP_BY_HOP)
        self._parser = httptools.HttpResponseParser(self)
        self._head_request = head_request
        self._upgrade_requested = upgrade
        self.done = False
        self.upgraded = False  # a 101 answer: every later byte is tunnel data (on_body)
        self.clean = False  # the last response ended where the next one may begin

    def on_message_begin(self) -> None:
        self._headers = []
        self._url = b""
        self._head_size = 0
        self.in_head = True
        self.clean = False

    def reset(self, head_request: bool, upgrade: bool) -> None:
        """Expect the answer to the next request (only when ``clean``)."""
        self._head_request = head_request
        self._upgrade_requested = upgrade
        self.done = self.upgraded = self.clean = False

    def feed(self, data: bytes) -> None:
        """Raises HttpError(502) when the upstream's answer cannot be parsed."""
        if self.upgraded:
            self._sink.on_body(data)
            return
        if self.done:
            raise HttpError(502, "data after a response without body")
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if not self.upgraded:
                raise HttpError(502, "bad upstream response: unexpected upgrade") from None
            offset = upgrade.args[0] if upgrade.args else len(data)
            if data[offset:]:
                self._sink.on_body(data[offset:])
        except HttpError as exc:
            raise HttpError(502, f"bad upstream response: {exc.reason}") from None
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            reason = cause.reason if isinstance(cause, HttpError) else "malformed"
            raise HttpError(502, f"bad upstream response: {reason}") from exc

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.clean = False
        parser = self._parser
        status = parser.get_status_code()
        if status == 101:
            if not self._upgrade_requested:
                raise HttpError(502, "101 without an upgrade request")
            self.upgraded = True
        _, forwarded, lengths, codings, _, _ = self._sorted()
        if lengths is None and codings is None:
            framing, length = Framing.NONE, None
        else:
            framing, length = _framing(lengths, codings)
        no_body = (self._head_request or status in _NO_BODY_STATUSES
                   or (100 <= status < 200 and status != 101))
        if no_body:
            body_framing = Framing.NONE
        elif framing is Framing.NONE:
            body_framing = Framing.UNTIL_CLOSE
        else:
            body_framing = framing
        head = ResponseHead(
            status, self._url, parser.get_http_version(), self._headers,
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


