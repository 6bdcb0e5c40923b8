"""HTTP/1.1 messages as the proxy sees them: heads, body framing, refusals, targets.

The parsers (:mod:`proxy.http_codec`) make these and the serializer
(:mod:`proxy.http_serialize`) writes them. A parsed head carries, besides all
its headers in order, the few the proxy reads (``noted``, lowercase names) and
the end-to-end ones a hop passes on (``forwarded``), sorted once as the headers
arrive so that later stages never scan every header again.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    # Set by the parser (None on a head built by hand): the REQUEST_NOTED headers
    # with lowercase names, and the end-to-end headers without the trace headers.
    noted: Headers | None = None
    forwarded: Headers | None = None

    def header(self, name: bytes) -> bytes | None:
        """First value of a header, by lowercase name."""
        noted = self.noted
        if noted is not None and name in REQUEST_NOTED:
            for key, value in noted:
                if key == name:
                    return value
            return None
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
    forwarded: Headers | None = None  # end-to-end headers (parser-made heads only)

    def add_header(self, name: bytes, value: bytes) -> None:
        """An end-to-end header the proxy adds to the answer it relays."""
        self.headers.append((name, value))
        if self.forwarded is not None:
            self.forwarded.append((name, value))


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
