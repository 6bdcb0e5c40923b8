"""HTTP/1.1 codec: httptools' C parser plus the checks a proxy owes its upstreams.

Parsing reports to a sink (head, body chunks, end) so bodies stream. The checks
httptools does not make for us, or that we want as explicit statuses: header
block size and header count (431), body size (413), Content-Length together
with Transfer-Encoding, repeated or bad Content-Length, missing or repeated Host
(400), CONNECT and upgrades that carry a body (501). httptools itself rejects
obs-fold, bad chunk sizes and other malformed framing (400). A request that
fails a check is never handed to the sink, so never forwarded.

A head that arrives whole in one read (most do) is read without a callback per
header (:mod:`proxy.http_head_scan`, :mod:`proxy.http_fast_head`): a head that
scan declines, or that httptools does not accept and frame as the scan did,
takes the callback path from the same message boundary, so bad input is refused
exactly as before.

An ``Upgrade`` request (WebSocket) is handed on with ``upgrade`` set; after it the
parser stops and the bytes that follow are the tunnel's (``RequestParser.feed``
returns them).
"""

from __future__ import annotations

from itertools import chain
from typing import Protocol

import httptools

from proxy.http_fast_head import OneReadCallbacks, head_agrees
from proxy.http_head_scan import scan_request
from proxy.http_message import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    REQUEST_NOTED,
    Framing,
    Headers,
    HttpError,
    RequestHead,
    ResponseHead,
    framing_from_headers,
    split_target,
    target_path,
)

# the message model is re-exported: a parser's users need both
__all__ = ["MAX_BODY_BYTES", "MAX_HEAD_BYTES", "Framing", "Headers", "HttpError", "MessageSink",
           "ParserAdapter", "RequestHead", "RequestParser", "ResponseHead", "split_target",
           "target_path"]


class MessageSink(Protocol):
    def on_head(self, head: RequestHead | ResponseHead) -> None: ...
    def on_body(self, chunk: bytes) -> None: ...
    def on_end(self) -> None: ...


# a finished head: url (or reason), all headers, noted, forwarded, Content-Length values,
# Transfer-Encoding values, Host count, Upgrade value (see ParserAdapter._end_of_head)
_Head = tuple[bytes, Headers, Headers, Headers, list[bytes] | None, list[bytes] | None, int,
              bytes | None]


class ParserAdapter:
    """httptools callbacks shared by the request and response parsers.

    A header callback only collects (the C parser calls it once per header, so it
    is kept to one append); at the end of the head the size and count limits are
    checked and the headers sorted in one pass (:meth:`_end_of_head`): all in
    ``headers``; the noted ones also in ``noted`` (lowercase name); the others, and
    the noted ones not ``unforwarded``, in ``forwarded``, without the headers a
    Connection header names. There is no ``on_message_begin`` (one callback less
    per message): the end of a head starts the next one afresh, and ``in_head``
    says whether one is being parsed, for the bound on raw head bytes that
    :meth:`_count_head_bytes` keeps across reads.
    """

    __slots__ = ("_headers", "_max_head", "_raw_head_bytes", "_sink", "_url", "in_head")

    def __init__(self, sink: MessageSink, max_head_bytes: int) -> None:
        self._sink = sink
        self._max_head = max_head_bytes
        self._headers: Headers = []
        self._url = b""
        self._raw_head_bytes = 0
        self.in_head = False

    def on_url(self, piece: bytes) -> None:
        self._url += piece
        self.in_head = True
        if len(self._url) > self._max_head:
            raise HttpError(431, "request header fields too large")

    def on_status(self, piece: bytes) -> None:
        self._url += piece

    def on_header(self, name: bytes, value: bytes | None) -> None:
        self._headers.append((name, value or b""))

    def _end_of_head(self, noted_names: frozenset[bytes], unforwarded: frozenset[bytes]
                     ) -> _Head:
        """The head just parsed, within the limits and sorted (one call: this runs
        for every message); the next head starts afresh."""
        url, headers = self._url, self._headers
        self._url, self._headers = b"", []
        self.in_head = False
        self._raw_head_bytes = 0
        if len(headers) > MAX_HEADERS:
            raise HttpError(431, "too many header fields")
        # name, ": ", value and CRLF of each header, as the limit has always counted
        if len(url) + sum(map(len, chain.from_iterable(headers))) + 4 * len(headers) \
                > self._max_head:
            raise HttpError(431, "request header fields too large")
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
            if low not in unforwarded:
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
        # the headers a Connection header names are hop-by-hop too; ``keep-alive`` alone
        # (the usual value) names none that is forwarded
        if connection is not None and (len(connection) > 1
                                       or connection[0].lower() != b"keep-alive"):
            named = {t.strip().lower() for v in connection for t in v.split(b",")}
            named.difference_update(unforwarded)  # not forwarded anyway
            if named:
                forwarded = [(k, v) for k, v in forwarded if k.lower() not in named]
        return url, headers, noted, forwarded, lengths, codings, hosts, upgrade

    def _count_head_bytes(self, size: int) -> None:
        """A head that never ends is bounded too, not only the parsed parts (the C
        parser keeps a header's partial name or value until it is complete)."""
        if self.in_head:
            self._raw_head_bytes += size
            if self._raw_head_bytes > 2 * self._max_head:
                raise HttpError(431, "request header fields too large")
        else:
            self._raw_head_bytes = 0

    def on_body(self, chunk: bytes) -> None:
        self._sink.on_body(chunk)

    def on_message_complete(self) -> None:
        self._sink.on_end()


_REQUEST_UNFORWARDED = REQUEST_NOTED - {b"host"}  # Host is noted and forwarded


class RequestParser(ParserAdapter):
    """Feeds bytes from a downstream connection; raises HttpError on bad input."""

    __slots__ = ("_body_bytes", "_fast", "_max_body", "_one_read", "_parser", "_slow_idle",
                 "_slow_keep_alive", "upgraded")

    def __init__(self, sink: MessageSink, max_head_bytes: int = MAX_HEAD_BYTES,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        super().__init__(sink, max_head_bytes)
        self._parser = httptools.HttpRequestParser(self)
        self._max_body = max_body_bytes
        self._body_bytes = 0
        self.upgraded = False
        # a head that comes whole in one read skips the header callbacks (proxy.http_fast_head)
        self._one_read = OneReadCallbacks(sink.on_body, sink.on_end)
        self._fast: httptools.HttpRequestParser | None = None
        self._slow_idle = True  # the callback parser is between messages
        self._slow_keep_alive = True

    def feed(self, data: bytes) -> bytes:
        """Parse ``data``; after an upgrade request, returns the bytes that follow it."""
        if self.upgraded:
            return data
        if self._one_read.body_left:
            assert self._fast is not None
            data = self._one_read.feed_body(self._fast, data)
        # one message at a time while each head is whole: the one-read path
        while data and self._slow_idle:
            end = data.find(b"\r\n\r\n") + 4
            if end < 4:
                break
            raw = data[:end]
            head = scan_request(raw, self._max_head, self._max_body)
            if head is None:
                break
            fast = self._fast
            if fast is None:
                fast = self._fast = httptools.HttpRequestParser(self._one_read)
            if not head_agrees(fast, self._one_read, raw, not head.content_length):
                self._fast = None
                break
            self._sink.on_head(head)
            data = data[end:]
            if head.content_length:
                self._one_read.body_left = head.content_length
                data = self._one_read.feed_body(fast, data)
            else:
                self._sink.on_end()
        if data:
            return self._feed_callbacks(data)
        return b""

    def _feed_callbacks(self, data: bytes) -> bytes:
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
        if self.in_head or self._raw_head_bytes:
            self._count_head_bytes(len(data))
        return b""

    def on_message_begin(self) -> None:
        self._slow_idle = False

    def on_message_complete(self) -> None:
        # after a message that closes the connection, httptools refuses what follows:
        # the callback parser keeps the stream so that it still does
        self._slow_idle = self._slow_keep_alive
        self._sink.on_end()

    def on_headers_complete(self) -> None:
        target, headers, noted, forwarded, lengths, codings, hosts, upgrade_value = \
            self._end_of_head(REQUEST_NOTED, _REQUEST_UNFORWARDED)
        self._body_bytes = 0
        parser = self._parser
        method = parser.get_method()
        if method == b"CONNECT":
            raise HttpError(501, "CONNECT not supported")
        version = parser.get_http_version()
        if hosts > 1 or (version == "1.1" and not hosts):
            raise HttpError(400, "exactly one Host header is required")
        if lengths is None and codings is None:  # most requests: no call
            framing, length = Framing.NONE, None
        else:
            framing, length = framing_from_headers(lengths, codings)
            if length is not None and length > self._max_body:
                raise HttpError(413, "request body too large")
        upgrade = None
        if parser.should_upgrade():
            upgrade = upgrade_value
            if upgrade is None or framing is not Framing.NONE or version != "1.1":
                raise HttpError(501, "protocol upgrade not supported")
            self.upgraded = True
        keep_alive = self._slow_keep_alive = parser.should_keep_alive()
        self._sink.on_head(RequestHead(
            method, target, version, headers, keep_alive, framing,
            length, upgrade, noted, forwarded))

    def on_body(self, chunk: bytes) -> None:
        self._body_bytes += len(chunk)
        if self._body_bytes > self._max_body:
            raise HttpError(413, "request body too large")
        self._sink.on_body(chunk)
