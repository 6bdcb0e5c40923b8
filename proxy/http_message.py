"""HTTP/1.1 messages as the proxy sees them: heads, body framing, refusals, targets.

The parsers (:mod:`proxy.http_codec`) make these and the serializer
(:mod:`proxy.http_serialize`) writes them. A parsed head carries, besides all
its headers in order, the few the proxy reads (``noted``, lowercase names) and
the end-to-end ones a hop passes on (``forwarded``), sorted once as the headers
arrive so that later stages never scan every header again.
"""

from __future__ import annotations

from typing import ClassVar

import httptools

from proxy.trace_context import TRACE_HEADERS

Headers = list[tuple[bytes, bytes]]

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100  # as Envoy's default
MAX_BODY_BYTES = 1024 * 1024 * 1024  # 1 GiB: large uploads stream; the cap is configurable
# Hop-by-hop headers (RFC 9110 7.6.1) plus the framing and Expect headers, which
# each hop writes for itself.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"content-length", b"expect",
})
# Headers the proxy itself reads: the parsers note them (lowercase name, value) as
# they arrive, so later stages look them up without scanning every header again.
# Requests also leave the trace headers out of ``forwarded``: each hop writes its own.
REQUEST_NOTED = HOP_BY_HOP | TRACE_HEADERS | {b"host"}


class HttpError(Exception):
    """A request the proxy refuses: answered with ``status`` and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class Framing:
    """How a message's body is delimited: four values, compared by identity.

    Not an ``enum.Enum``: looking up an Enum member costs ~0.1-0.2 us in Python
    3.11, and the request path asks for these a dozen times per request.
    """

    __slots__ = ("value",)
    NONE: ClassVar[Framing]
    LENGTH: ClassVar[Framing]
    CHUNKED: ClassVar[Framing]
    UNTIL_CLOSE: ClassVar[Framing]  # responses only: body ends when upstream closes

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Framing.{self.value.upper()}"


Framing.NONE = Framing("none")
Framing.LENGTH = Framing("length")
Framing.CHUNKED = Framing("chunked")
Framing.UNTIL_CLOSE = Framing("until_close")


class _Head:
    """What request and response heads share: ``headers``, all of them in order,
    split out of the head's raw bytes (``_raw``) only when first asked for."""

    __slots__ = ("_headers", "_raw")
    _headers: Headers | None
    _raw: bytes | None

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = head_lines(self._raw) if self._raw is not None else []
        return headers


class RequestHead(_Head):
    """A request head. ``noted`` and ``forwarded`` are set by the parser (None on a
    head built by hand): the REQUEST_NOTED headers with lowercase names, and the
    end-to-end headers without the trace headers. A head the one-read scan made
    (:mod:`proxy.http_head_scan`) also has ``raw_lines``: its forwarded header lines
    as they came (each ending CRLF); ``headers`` and ``forwarded`` are then split
    out of the raw bytes only when asked for."""

    __slots__ = ("_forwarded", "content_length", "framing", "keep_alive", "method", "noted",
                 "raw_lines", "target", "traced", "upgrade", "version")

    def __init__(self, method: bytes, target: bytes, version: str, headers: Headers | None,
                 keep_alive: bool, framing: Framing, content_length: int | None,
                 upgrade: bytes | None = None, noted: Headers | None = None,
                 forwarded: Headers | None = None, raw: bytes | None = None,
                 raw_lines: bytes | None = None, traced: bool = True) -> None:
        self.method = method
        self.target = target
        self.version = version
        self._headers = headers
        self.keep_alive = keep_alive
        self.framing = framing
        self.content_length = content_length
        self.upgrade = upgrade  # the Upgrade header of an upgrade request
        self.noted = noted
        self._forwarded = forwarded
        self._raw = raw  # the head as it came, when ``headers`` is not split from it yet
        self.raw_lines = raw_lines
        # False when the parser knows no trace header came: the request path then skips
        # looking for a trace context
        self.traced = traced

    @property
    def forwarded(self) -> Headers | None:
        forwarded = self._forwarded
        if forwarded is None and self.raw_lines is not None:
            forwarded = self._forwarded = header_lines(self.raw_lines)
        return forwarded

    def header(self, name: bytes) -> bytes | None:
        """First value of a header, by lowercase name."""
        noted = self.noted
        if noted is not None and name in REQUEST_NOTED:
            for key, value in noted:
                if key == name:
                    return value
            return None
        return header_value(self.headers, name)

    def __repr__(self) -> str:
        return f"RequestHead({self.method!r}, {self.target!r}, {self.version!r})"


class ResponseHead(_Head):
    """A response head. ``forwarded``: its end-to-end headers (parser-made heads
    only). A head the one-read scan made also has ``raw_head``: its status line and
    forwarded header lines as they came (each ending CRLF); ``headers`` and
    ``forwarded`` are then split out of the raw bytes only when asked for."""

    __slots__ = ("_forwarded", "content_length", "framing", "has_body", "keep_alive",
                 "raw_head", "reason", "status", "version")

    def __init__(self, status: int, reason: bytes, version: str, headers: Headers | None,
                 keep_alive: bool, framing: Framing, content_length: int | None,
                 has_body: bool, forwarded: Headers | None = None, raw: bytes | None = None,
                 raw_head: bytes | None = None) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self._headers = headers
        self.keep_alive = keep_alive
        self.framing = framing
        self.content_length = content_length
        self.has_body = has_body
        self._forwarded = forwarded
        self._raw = raw
        self.raw_head = raw_head

    @property
    def forwarded(self) -> Headers | None:
        forwarded = self._forwarded
        if forwarded is None and self.raw_head is not None:
            forwarded = self._forwarded = header_lines(
                self.raw_head[self.raw_head.find(b"\r\n") + 2:])
        return forwarded

    def add_header(self, name: bytes, value: bytes) -> None:
        """An end-to-end header the proxy adds to the answer it relays."""
        forwarded = self.forwarded  # split before the raw head grows
        self.headers.append((name, value))
        if forwarded is not None:
            forwarded.append((name, value))
        if self.raw_head is not None:
            self.raw_head += b"%s: %s\r\n" % (name, value)

    def __repr__(self) -> str:
        return f"ResponseHead({self.status!r}, {self.reason!r}, {self.version!r})"


def header_lines(block: bytes) -> Headers:
    """(name, value) of header lines as llhttp reports them (leading whitespace of the
    value dropped); ``block`` is lines each ending CRLF, of a head llhttp accepted."""
    return [(name, value.lstrip(b" \t"))
            for name, _, value in (line.partition(b":") for line in block.split(b"\r\n"))
            if name]


def head_lines(head: bytes) -> Headers:
    """:func:`header_lines` of a whole head (start line first, empty line last)."""
    return header_lines(head[head.find(b"\r\n") + 2:])


def _checked_framing(lengths: list[bytes] | None, codings: list[bytes] | None
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


def framing_from_headers(lengths: list[bytes] | None, codings: list[bytes] | None
                  ) -> tuple[Framing, int | None]:
    """:func:`_checked_framing`, with the usual cases (no body headers, one plain
    Content-Length) decided without a call."""
    if codings is None:
        if lengths is None:
            return Framing.NONE, None
        if len(lengths) == 1 and (text := lengths[0]).isdigit() and len(text) <= 18:
            return Framing.LENGTH, int(text)
    return _checked_framing(lengths, codings)


def header_value(headers: Headers, name: bytes) -> bytes | None:
    """First value of a header, by lowercase name."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


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
