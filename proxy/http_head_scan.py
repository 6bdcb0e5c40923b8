"""One-read heads: what the proxy needs from a whole head, read in a few C-level passes.

Most heads arrive whole in one read. For those the parsers (:mod:`proxy.http_codec`)
skip httptools' per-header callbacks: this module finds the lines the proxy reads
or drops (``\\r\\n<name>:``, any case, one regex split) and keeps the others as
the raw bytes they came in, to be forwarded unchanged.

It decides nothing about validity: it only *declines* (returns None) whatever is
not the plain case: another version than HTTP/1.1, Transfer-Encoding on a request,
Upgrade, a Connection other than ``keep-alive``, a Host count other than one,
repeated or odd Content-Length, interim answers, heads near the size or count
limits. A declined head takes the callback path, which refuses bad input exactly
as before. An accepted head is still fed to httptools (without header callbacks),
and handed on only when httptools accepts it and frames it the same way
(:mod:`proxy.http_fast_head`); so httptools stays the authority on validity.
"""

from __future__ import annotations

import re

from proxy.http_message import (
    HOP_BY_HOP,
    MAX_HEADERS,
    REQUEST_NOTED,
    Framing,
    RequestHead,
    ResponseHead,
)
from proxy.trace_context import TRACE_HEADERS, TRACEPARENT


def _noted_lines(names: frozenset[bytes], separators: bool = True) -> re.Pattern[bytes]:
    """Splits a head at each line that starts with one of ``names`` (any case):
    [text, name, separator, value, text, ...], without the separators when not
    ``separators``; the value as llhttp reports it (from the first byte after the
    separator's whitespace up to the CR)."""
    # One alternative per first byte, that byte as a case-sensitive class: sre skips an
    # alternative whose first op is a class at once when the byte is not in it, but
    # tries a case-insensitive one in full (~2.2k instructions per request less than
    # one alternative per name, for a head and its answer's). Longer names first.
    by_first: dict[bytes, list[bytes]] = {}
    for name in sorted(names, key=lambda n: (-len(n), n)):
        by_first.setdefault(name[:1].lower(), []).append(name[1:])
    alternatives = b"|".join(
        b"[" + re.escape(first) + re.escape(first.upper()) + b"](?i:"
        + b"|".join(re.escape(rest) for rest in rests) + b")"
        for first, rests in sorted(by_first.items()))
    # A line whose first byte starts no name fails at this class, before any alternative
    firsts = b"".join(sorted({re.escape(case(name[:1])) for name in names
                              for case in (bytes.lower, bytes.upper)}))
    separator = b"(:[ \t]*)" if separators else b":[ \t]*"
    return re.compile(b"\r\n(?=[" + firsts + b"])(" + alternatives + b")" + separator
                      + b"([^\r]*)")


_REQUEST_NOTED_LINES = _noted_lines(REQUEST_NOTED)
# a response's noted lines are dropped whole: [text, name, value, text, ...]
_RESPONSE_NOTED_LINES = _noted_lines(HOP_BY_HOP, separators=False)
# The start lines of the plain case, read in one C call each (method and target hold no
# space or CR; a final status, 200-999, and a reason without CR): anything else declines
_REQUEST_LINE = re.compile(rb"([^ \r]+) ([^ \r]+) HTTP/1\.1\r\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([2-9][0-9][0-9]) ([^\r]*)\r\n")
_NO_BODY_STATUSES = (204, 304)
# the final statuses the status line admits, by their digits: a lookup, cheaper than int()
_FINAL_STATUSES = {b"%d" % status: status for status in range(200, 1000)}
# Heads up to this size are within the count limit and, with a limit of at least
# _SHORT_LIMIT, the size limit: each header line takes four bytes or more
_SHORT_HEAD = 4 * MAX_HEADERS
_SHORT_LIMIT = _SHORT_HEAD + MAX_HEADERS + 16


def _within_limits(head: bytes, max_head: int) -> bool:
    """Clearly within the header count and size limits (near them the callback path
    counts as it always has: its count of a header is at most its line's length + 1).
    Callers skip the call for heads of up to _SHORT_HEAD bytes."""
    lines = head.count(b"\r\n")
    return lines - 2 <= MAX_HEADERS and len(head) + lines <= max_head


def _content_length(values: list[bytes]) -> int | None:
    """The one plain Content-Length; None: not plain (the callback path decides)."""
    if len(values) != 1:
        return None
    text = values[0].rstrip(b" \t")
    if not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def scan_request(head: bytes, max_head: int, max_body: int) -> RequestHead | None:
    """A request head (``head`` ends with its first CRLF CRLF) or None: not the plain case."""
    if (len(head) > _SHORT_HEAD or max_head < _SHORT_LIMIT) and not _within_limits(head, max_head):
        return None
    line = _REQUEST_LINE.match(head)
    if line is None:
        return None
    method, target = line.groups()
    if method == b"CONNECT":
        return None
    start = line.end()  # of the header lines
    parts = _REQUEST_NOTED_LINES.split(head)
    if len(parts) == 5:  # the usual request: Host only, every line forwarded as it came
        if parts[1].lower() != b"host":
            return None
        return RequestHead(method, target, "1.1", None, True, Framing.NONE, None, None,
                           [(b"host", parts[3])], None, head, head[start:-2], False)
    if len(parts) == 9 and parts[5].lower() == TRACEPARENT and parts[1].lower() == b"host":
        # the usual traced request (a client sidecar writes Host first, its traceparent
        # last): the traceparent line is dropped, as each hop writes its own
        return RequestHead(method, target, "1.1", None, True, Framing.NONE, None, None,
                           [(b"host", parts[3]), (TRACEPARENT, parts[7])], None, head,
                           b"".join((parts[0], b"\r\n", parts[1], parts[2], parts[3], parts[4],
                                     parts[8]))[start:-2], True)
    names = b" ".join(parts[1::4]).lower().split()
    noted = list(zip(names, parts[3::4], strict=True))
    hosts = 0
    traced = False
    lengths: list[bytes] = []
    for name, value in noted:
        if name == b"host":
            hosts += 1
        elif name == b"content-length":
            lengths.append(value)
        elif name == b"connection":
            if value.rstrip(b" \t").lower() != b"keep-alive":
                return None
        elif name in (b"transfer-encoding", b"upgrade"):
            return None
        elif name in TRACE_HEADERS:
            traced = True
    if hosts != 1:
        return None
    framing, length = Framing.NONE, None
    if lengths:
        length = _content_length(lengths)
        if length is None or length > max_body:
            return None
        framing = Framing.LENGTH
    pieces = [parts[0]]
    for index, name in enumerate(names):
        at = 4 * index
        if name == b"host":  # noted and forwarded
            pieces += (b"\r\n", parts[at + 1], parts[at + 2], parts[at + 3])
        pieces.append(parts[at + 4])
    kept = b"".join(pieces)
    return RequestHead(method, target, "1.1", None, True, framing, length, None, noted,
                       None, head, kept[start:-2], traced)


def scan_response(head: bytes, max_head: int) -> ResponseHead | None:
    """A final response head to a GET-like request, or None: not the plain case."""
    # "HTTP/1.1 200 OK": the status line is forwarded as it came
    line = _STATUS_LINE.match(head)
    if line is None or ((len(head) > _SHORT_HEAD or max_head < _SHORT_LIMIT)
                        and not _within_limits(head, max_head)):
        return None
    code, reason = line.groups()
    status = _FINAL_STATUSES[code]
    parts = _RESPONSE_NOTED_LINES.split(head)
    # the usual answer: Content-Length, maybe then Connection: keep-alive (three pieces a line)
    pieces = len(parts)
    usual = (pieces == 4 or (pieces == 7 and parts[4].lower() == b"connection"
                             and parts[5].rstrip(b" \t").lower() == b"keep-alive")) \
        and parts[1].lower() == b"content-length"
    if usual:  # _content_length of the one value, without the call
        text = parts[2].rstrip(b" \t")
        if not text.isdigit() or len(text) > 18 or status in _NO_BODY_STATUSES:
            return None  # a 204/304 with a Content-Length: the callback path drops it
        length, framing = int(text), Framing.LENGTH
    else:
        chunked = False
        lengths = []
        names = b" ".join(parts[1::3]).lower().split()
        for name, value in zip(names, parts[2::3], strict=True):
            if name == b"content-length":
                lengths.append(value)
            elif name == b"transfer-encoding":
                if chunked or value.rstrip(b" \t").lower() != b"chunked":
                    return None
                chunked = True
            elif name == b"connection":
                if value.rstrip(b" \t").lower() != b"keep-alive":
                    return None
            elif name == b"upgrade":
                return None
        length = None
        if lengths:
            length = _content_length(lengths)
            if length is None or chunked:
                return None
            framing = Framing.LENGTH
        elif chunked:
            framing = Framing.CHUNKED
        elif status not in _NO_BODY_STATUSES:
            return None  # delimited by close: the callback path
        if status in _NO_BODY_STATUSES:
            if chunked:
                return None
            framing = Framing.NONE
    raw_head = b"".join(parts[::3])[:-2] if len(parts) > 1 else head[:-2]
    return ResponseHead(status, reason, "1.1", None, True, framing, length,
                        framing is not Framing.NONE, None, head, raw_head)
