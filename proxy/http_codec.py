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

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

import httptools

Headers = list[tuple[bytes, bytes]]

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100  # as Envoy's default
MAX_BODY_BYTES = 1024 * 1024 * 1024  # 1 GiB: large uploads stream; the cap is configurable
LAST_CHUNK = b"0\r\n\r\n"
# Hop-by-hop headers (RFC 9110 7.6.1) plus the framing and Expect headers, which
# each hop writes for itself.
_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"content-length", b"expect",
})
_NO_BODY_STATUSES = frozenset({204, 304})


class HttpError(Exception):
    """A request the proxy refuses: answered with ``status`` and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class Framing(enum.Enum):
    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until_close"  # responses only: body ends when upstream closes


@dataclass(slots=True)
class RequestHead:
    method: bytes
    target: bytes
    version: str
    headers: Headers
    keep_alive: bool
    framing: Framing
    content_length: int | None
    upgrade: bytes | None = None  # the Upgrade header of an upgrade request

    def header(self, name: bytes) -> bytes | None:
        return header_value(self.headers, name)


@dataclass(slots=True)
class ResponseHead:
    status: int
    reason: bytes
    version: str
    headers: Headers
    keep_alive: bool
    framing: Framing
    content_length: int | None
    has_body: bool


class MessageSink(Protocol):
    def on_head(self, head: RequestHead | ResponseHead) -> None: ...
    def on_body(self, chunk: bytes) -> None: ...
    def on_end(self) -> None: ...


def header_value(headers: Headers, name: bytes) -> bytes | None:
    """First value of a header, by lowercase name."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _framing(headers: Headers) -> tuple[Framing, int | None]:
    """Body framing from the headers; raises HttpError on ambiguous framing."""
    lengths = [v for k, v in headers if k.lower() == b"content-length"]
    codings = [v for k, v in headers if k.lower() == b"transfer-encoding"]
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


class _ParserAdapter:
    """httptools callbacks shared by the request and response parsers."""

    def __init__(self, sink: MessageSink, max_head_bytes: int) -> None:
        self._sink = sink
        self._max_head = max_head_bytes
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
        self._count(len(piece))

    def on_status(self, piece: bytes) -> None:
        self._url += piece

    def on_header(self, name: bytes, value: bytes | None) -> None:
        value = value or b""
        self._count(len(name) + len(value) + 4)
        self._headers.append((name, value))
        if len(self._headers) > MAX_HEADERS:
            raise HttpError(431, "too many header fields")

    def _count(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self._max_head:
            raise HttpError(431, "request header fields too large")

    def on_body(self, chunk: bytes) -> None:
        self._sink.on_body(chunk)

    def on_message_complete(self) -> None:
        self._sink.on_end()


class RequestParser(_ParserAdapter):
    """Feeds bytes from a downstream connection; raises HttpError on bad input."""

    def __init__(self, sink: MessageSink, max_head_bytes: int = MAX_HEAD_BYTES,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        super().__init__(sink, max_head_bytes)
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
        hosts = [v for k, v in self._headers if k.lower() == b"host"]
        if len(hosts) > 1 or (version == "1.1" and not hosts):
            raise HttpError(400, "exactly one Host header is required")
        framing, length = _framing(self._headers)
        if length is not None and length > self._max_body:
            raise HttpError(413, "request body too large")
        upgrade = None
        if parser.should_upgrade():
            upgrade = header_value(self._headers, b"upgrade")
            if upgrade is None or framing is not Framing.NONE or version != "1.1":
                raise HttpError(501, "protocol upgrade not supported")
            self.upgraded = True
        self._sink.on_head(RequestHead(
            method=method, target=self._url, version=version, headers=self._headers,
            keep_alive=parser.should_keep_alive(), framing=framing, content_length=length,
            upgrade=upgrade,
        ))

    def on_body(self, chunk: bytes) -> None:
        self._body_bytes += len(chunk)
        if self._body_bytes > self._max_body:
            raise HttpError(413, "request body too large")
        self._sink.on_body(chunk)


class ResponseParser(_ParserAdapter):
    """Parses one upstream response; ``head_request`` because HEAD answers have no body."""

    def __init__(self, sink: MessageSink, head_request: bool = False,
                 max_head_bytes: int = MAX_HEAD_BYTES, upgrade: bool = False) -> None:
        super().__init__(sink, max_head_bytes)
        self._parser = httptools.HttpResponseParser(self)
        self._head_request = head_request
        self._upgrade_requested = upgrade
        self.done = False
        self.upgraded = False  # a 101 answer: every later byte is tunnel data (on_body)

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
        parser = self._parser
        status = parser.get_status_code()
        if status == 101:
            if not self._upgrade_requested:
                raise HttpError(502, "101 without an upgrade request")
            self.upgraded = True
        framing, length = _framing(self._headers)
        no_body = (self._head_request or status in _NO_BODY_STATUSES
                   or (100 <= status < 200 and status != 101))
        if no_body:
            body_framing = Framing.NONE
        elif framing is Framing.NONE:
            body_framing = Framing.UNTIL_CLOSE
        else:
            body_framing = framing
        head = ResponseHead(
            status=status, reason=self._url, version=parser.get_http_version(),
            headers=self._headers, keep_alive=parser.should_keep_alive(),
            framing=body_framing, content_length=length, has_body=not no_body,
        )
        self._sink.on_head(head)
        if self._head_request:
            # httptools cannot be told to skip a HEAD answer's body: end it here.
            self.done = True
            self._sink.on_end()

    def on_message_complete(self) -> None:
        if not self.done and not self.upgraded:  # a tunnel ends when the upstream closes
            super().on_message_complete()


def end_to_end_headers(headers: Iterable[tuple[bytes, bytes]],
                       drop: frozenset[bytes] = frozenset()) -> Headers:
    """Headers without hop-by-hop ones, those named in Connection, and ``drop``."""
    headers = list(headers)
    named = {
        token.strip().lower()
        for key, value in headers if key.lower() == b"connection"
        for token in value.split(b",")
    }
    return [(k, v) for k, v in headers
            if (low := k.lower()) not in _HOP_BY_HOP and low not in named and low not in drop]


def upgrade_headers(head: RequestHead) -> Headers:
    """Connection and Upgrade, which a hop passes on only for an upgrade request."""
    if head.upgrade is None:
        return []
    return [(b"Connection", b"Upgrade"), (b"Upgrade", head.upgrade)]


def framing_headers(framing: Framing, length: int | None) -> Headers:
    if framing is Framing.LENGTH and length is not None:
        return [(b"Content-Length", str(length).encode())]
    if framing is Framing.CHUNKED:
        return [(b"Transfer-Encoding", b"chunked")]
    return []


def serialize_request_head(method: bytes, target: bytes, headers: Headers) -> bytes:
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    for key, value in headers:
        lines += (key, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def serialize_response_head(status: int, reason: bytes, headers: Headers) -> bytes:
    lines = [b"HTTP/1.1 ", str(status).encode(), b" ", reason, b"\r\n"]
    for key, value in headers:
        lines += (key, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


def simple_response(status: int, body: bytes = b"", headers: Headers | None = None,
                    close: bool = False) -> bytes:
    """A complete small response generated by the proxy itself."""
    out: Headers = list(headers or [])
    out += [(b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Length", str(len(body)).encode())]
    if close:
        out.append((b"Connection", b"close"))
    return serialize_response_head(status, reason_phrase(status), out) + body


def split_target(target: bytes) -> tuple[bytes | None, bytes]:
    """Request-target to (authority of an absolute-form target or None, origin-form)."""
    if target.startswith(b"/") or target == b"*":
        return None, target
    try:
        url = httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        raise HttpError(400, "invalid request target") from None
    if not url.host:
        raise HttpError(400, "invalid request target")
    authority = url.host + (b":%d" % url.port if url.port else b"")
    origin = (url.path or b"/") + (b"?" + url.query if url.query else b"")
    return authority, origin


def target_path(target: bytes) -> str:
    """The path of an origin-form target, for ``url.path``."""
    return target.split(b"?", 1)[0].decode("latin-1")
