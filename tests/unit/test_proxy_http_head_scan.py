"""One-read heads (proxy.http_head_scan, proxy.http_fast_head) against the callback path.

A head that arrives whole skips httptools' header callbacks; the same bytes fed a
byte at a time take the callback path. Both must hand on the same heads and
refuse the same input with the same status.
"""

from __future__ import annotations

from typing import Any

import pytest

from proxy.config import Endpoint
from proxy.http_codec import HttpError, RequestHead, RequestParser, ResponseHead
from proxy.http_message import MAX_HEADERS, REQUEST_NOTED
from proxy.http_response import ResponseParser
from proxy.http_serialize import forwarded_request_head
from proxy.testing import RecordingTransport
from proxy.upstream_pool import UpstreamConnection, UpstreamPool

MAX_HEAD = 1024
MAX_BODY = 100
GET = b"GET /a?b=1 HTTP/1.1\r\nHost: catalog\r\n"


class Sink:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_head(self, head: RequestHead | ResponseHead) -> None:
        self.events.append(head)

    def on_body(self, chunk: bytes) -> None:
        if self.events and isinstance(self.events[-1], bytes):
            self.events[-1] += chunk
        else:
            self.events.append(chunk)

    def on_end(self) -> None:
        self.events.append("end")


def request_view(head: RequestHead) -> tuple[Any, ...]:
    return (head.method, head.target, head.version, head.headers, head.keep_alive,
            head.framing, head.content_length, head.upgrade, head.noted, head.forwarded)


def response_view(head: ResponseHead) -> tuple[Any, ...]:
    return (head.status, head.reason, head.version, head.headers, head.keep_alive,
            head.framing, head.content_length, head.has_body, head.forwarded)


def view(events: list[Any]) -> list[Any]:
    out: list[Any] = []
    for event in events:
        if isinstance(event, RequestHead):
            out.append(request_view(event))
        elif isinstance(event, ResponseHead):
            out.append(response_view(event))
        else:
            out.append(event)
    return out


def feed(parser: RequestParser | ResponseParser, pieces: list[bytes]) -> int | None:
    """Feeds the pieces in turn: the status of the refusal, or None."""
    try:
        for piece in pieces:
            parser.feed(piece)
    except HttpError as error:
        return error.status
    return None


def run_requests(pieces: list[bytes], max_head: int = MAX_HEAD
                 ) -> tuple[list[Any], int | None, list[RequestHead]]:
    """What the sink saw, the refusal's status (None: no refusal), the heads."""
    sink = Sink()
    status = feed(RequestParser(sink, max_head_bytes=max_head, max_body_bytes=MAX_BODY), pieces)
    heads = [e for e in sink.events if isinstance(e, RequestHead)]
    return view(sink.events), status, heads


def bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


GOOD_REQUESTS = {
    "plain": GET + b"User-Agent: t\r\n\r\n",
    "case_and_spaces": b"GET / HTTP/1.1\r\nhOsT:   catalog  \r\nX-A:b\r\nX-Empty:\r\n\r\n",
    "length_body": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 5\r\n\r\nhello",
    "length_zero": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 0\r\n\r\n",
    "length_trailing_space": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 2 \r\n\r\nhi",
    "hop_by_hop": GET + b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
                        b"Proxy-Connection: x\r\nTrailer: y\r\nX-Kept: 1\r\n\r\n",
    "trace": GET + b"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
                   b"TraceState: congo=t61rcWkgMzE\r\nX-B3-Sampled: 1\r\nb3: 0\r\n\r\n",
    "expect": b"POST / HTTP/1.1\r\nHost: c\r\nExpect: 100-continue\r\nContent-Length: 1\r\n"
              b"\r\nx",
    "pipelined": GET + b"\r\n" + b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 3\r\n\r\nabc"
                 + GET + b"X: 1\r\n\r\n",
    "chunked_then_plain": b"POST / HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"3\r\nabc\r\n0\r\n\r\n" + GET + b"\r\n",
    "http10": b"GET / HTTP/1.0\r\nHost: c\r\n\r\n",
    "http10_no_host": b"GET / HTTP/1.0\r\n\r\n",
    "connection_close": GET + b"Connection: close\r\n\r\n",
    "absolute_form": b"GET http://catalog:81/x HTTP/1.1\r\nHost: other\r\n\r\n",
    "leading_crlf": b"\r\n" + GET + b"\r\n",
    "double_space": b"GET  / HTTP/1.1\r\nHost: c\r\n\r\n",
    "upgrade": b"GET /ws HTTP/1.1\r\nHost: c\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "connection_names_header": GET + b"Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\n\r\n",
    "max_headers": GET + b"X: 1\r\n" * (MAX_HEADERS - 1) + b"\r\n",
    "non_ascii_value": GET + b"X: caf\xc3\xa9\r\n\r\n",
}

BAD_REQUESTS = {
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 4\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl": b"POST / HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Length: 4\r\n\r\n0\r\n\r\n",
    "duplicate_cl": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 4\r\nContent-Length: 5\r\n"
                    b"\r\nabcde",
    "same_cl_twice": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 4\r\ncontent-length: 4\r\n"
                     b"\r\nabcd",
    "cl_list": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 4, 4\r\n\r\nabcd",
    "cl_plus": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: +4\r\n\r\nabcd",
    "cl_space_before_colon": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length : 4\r\n\r\nabcd",
    "te_space_before_colon": b"POST / HTTP/1.1\r\nHost: c\r\nTransfer-Encoding : chunked\r\n"
                             b"\r\n0\r\n\r\n",
    "obs_fold": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 4\r\nX-A: 1\r\n"
                b" Transfer-Encoding: chunked\r\n\r\nabcd",
    "obs_fold_tab": GET + b"X-A: 1\r\n\tfolded\r\n\r\n",
    "bare_lf_line": GET + b"X-A: 1\nContent-Length: 4\r\n\r\nabcd",
    "bare_lf_head": b"GET / HTTP/1.1\nHost: c\n\n",
    "bare_cr": GET + b"X-A: 1\rContent-Length: 4\r\n\r\nabcd",
    "bad_name": GET + b"Bad Header: 1\r\n\r\n",
    "nul_in_value": GET + b"X: a\x00b\r\n\r\n",
    "ctl_in_value": GET + b"X: a\x01b\r\n\r\n",
    "no_host": b"GET / HTTP/1.1\r\n\r\n",
    "two_hosts": GET + b"Host: b\r\n\r\n",
    "too_many_headers": GET + b"X: 1\r\n" * MAX_HEADERS + b"\r\n",
    "huge_header": GET + b"X: " + b"a" * 1100 + b"\r\n\r\n",
    "te_gzip": b"POST / HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: gzip\r\n\r\nabcd",
    "connect": b"CONNECT c:443 HTTP/1.1\r\nHost: c\r\n\r\n",
    "body_over_limit": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 101\r\n\r\n",
    "upgrade_with_body": b"POST / HTTP/1.1\r\nHost: c\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
                         b"Content-Length: 1\r\n\r\na",
    "bad_request_line": b"GET /a b c HTTP/1.1\r\nHost: c\r\n\r\n",
    "cr_in_target": b"GET /a\rb HTTP/1.1\r\nHost: c\r\n\r\n",
    "cr_in_method": b"GE\rT / HTTP/1.1\r\nHost: c\r\n\r\n",
    "http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "garbage": b"\x00\x01\x02 garbage\r\n\r\n",
    "smuggled_after_cl_te": b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 35\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nX: y",
    "after_connection_close": GET + b"Connection: close\r\n\r\n" + GET + b"\r\n",
    "after_http10": b"GET / HTTP/1.0\r\n\r\n" + GET + b"\r\n",
    "good_then_bad": GET + b"\r\n" + GET + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(GOOD_REQUESTS))
def test_whole_heads_hand_on_what_the_callback_path_does(name: str) -> None:
    data = GOOD_REQUESTS[name]
    whole = run_requests([data])
    assert whole[0] == run_requests(bytewise(data))[0]
    assert whole[1] is None and whole[0], whole


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_whole_heads_refuse_what_the_callback_path_refuses(name: str) -> None:
    data = BAD_REQUESTS[name]
    events, status, _ = run_requests([data])
    assert (events, status) == run_requests(bytewise(data))[:2]
    assert status is not None


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_a_refused_head_is_never_handed_on(name: str) -> None:
    data = BAD_REQUESTS[name]
    _, status, heads = run_requests([data])
    refused_first = name not in ("after_connection_close", "after_http10", "good_then_bad")
    assert status is not None
    if refused_first:
        assert heads == []


@pytest.mark.parametrize("count", range(MAX_HEADERS - 2, MAX_HEADERS + 3))
def test_the_header_count_limit_holds_exactly(count: int) -> None:
    data = b"GET / HTTP/1.1\r\nHost: c\r\n" + b"X: 1\r\n" * (count - 1) + b"\r\n"
    events, status, _ = run_requests([data])
    assert (events, status) == run_requests(bytewise(data))[:2]
    assert (status is None) is (count <= MAX_HEADERS)


@pytest.mark.parametrize("max_head", [MAX_HEAD, 120])
def test_the_head_size_limit_holds_exactly(max_head: int) -> None:
    statuses = set()
    for spaces in (b"", b" ", b"   "):
        for pad in range(max_head - 100, max_head + 10):
            data = b"GET / HTTP/1.1\r\nHost: c\r\nX:" + spaces + b"a" * pad + b"\r\n\r\n"
            events, status, _ = run_requests([data], max_head)
            split = run_requests([data[:20], data[20:]], max_head)
            assert (events, status) == split[:2], (spaces, pad)
            statuses.add(status)
    assert statuses == {None, 431}


def test_plain_heads_take_the_one_read_path_and_forward_their_lines_as_they_came() -> None:
    _, _, (head,) = run_requests([GET + b"X-B:  b \r\nConnection: keep-alive\r\n"
                                  b"traceparent: t\r\nX-C: c\r\n\r\n"])
    assert head.raw_lines == b"Host: catalog\r\nX-B:  b \r\nX-C: c\r\n"
    assert head.noted == [(b"host", b"catalog"), (b"connection", b"keep-alive"),
                          (b"traceparent", b"t")]
    assert forwarded_request_head(head, b"/a", b"traceparent: u\r\n") == (
        b"GET /a HTTP/1.1\r\nHost: catalog\r\nX-B:  b \r\nX-C: c\r\ntraceparent: u\r\n\r\n")
    _, _, (split,) = run_requests(bytewise(GET + b"\r\n"))
    assert split.raw_lines is None  # a head in pieces takes the callback path


def test_a_head_in_pieces_forwards_its_headers_then_the_trace_lines_then_its_framing() -> None:
    _, _, (head,) = run_requests(bytewise(GET + b"X-B: b\r\ntraceparent: t\r\n"
                                                b"Transfer-Encoding: chunked\r\n\r\n"))
    assert head.raw_lines is None
    assert forwarded_request_head(head, b"/a", b"traceparent: u\r\n") == (
        b"GET /a HTTP/1.1\r\nHost: catalog\r\nX-B: b\r\ntraceparent: u\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")
    assert forwarded_request_head(head, b"/a", b"") == (
        b"GET /a HTTP/1.1\r\nHost: catalog\r\nX-B: b\r\nTransfer-Encoding: chunked\r\n\r\n")


@pytest.mark.parametrize(("lines", "traced"), [
    (b"", False),  # Host only: the usual request
    (b"Content-Length: 0\r\nX-A: a\r\n", False),
    (b"traceparent: t\r\n", True),
    (b"X-B3-TraceId: 1\r\n", True),
    (b"B3: 0\r\n", True),
])
def test_one_read_heads_say_whether_trace_headers_came(lines: bytes, traced: bool) -> None:
    _, _, (head,) = run_requests([GET + lines + b"\r\n"])
    assert head.raw_lines is not None and head.traced is traced
    _, _, (split,) = run_requests(bytewise(GET + lines + b"\r\n"))
    assert split.traced  # the callback path does not tell: the trace context is looked for


TRACEPARENT_LINE = b"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"


@pytest.mark.parametrize("lines", [
    b"Host: c\r\n" + TRACEPARENT_LINE,  # a client sidecar's request
    b"host:c\r\nX-A: 1\r\n" + TRACEPARENT_LINE + b"X-B: 2\r\n",
    b"HOST: c\r\n" + TRACEPARENT_LINE.replace(b"traceparent", b"TraceParent"),
    b"Host: c\r\n" + TRACEPARENT_LINE.replace(b": ", b":\t  "),
    b"Host: c\r\ntraceparent:\r\n",
    b"Host: c \r\n" + TRACEPARENT_LINE.replace(b"01\r\n", b"01 \t\r\n"),
    TRACEPARENT_LINE + b"Host: c\r\n",
    b"X-A: 1\r\n" + TRACEPARENT_LINE + b"X-B: 2\r\nHost: c\r\nX-C: 3\r\n",
    b"Host: c\r\n" + TRACEPARENT_LINE + TRACEPARENT_LINE,
    b"Host: c\r\n" + TRACEPARENT_LINE + b"tracestate: a=1\r\n",
    b"Host: c\r\nb3: 0af7651916cd43dd-b7ad6b7169203331-1\r\n",
    b"Host: c\r\nX-B3-TraceId: 0af7651916cd43dd\r\n",
    b"Host: c\r\n" + TRACEPARENT_LINE + b"Content-Length: 0\r\n",
    b"Host: c\r\n" + TRACEPARENT_LINE + b"Host: d\r\n",
])
def test_traced_heads_drop_their_trace_lines_and_note_them(lines: bytes) -> None:
    data = b"GET / HTTP/1.1\r\n" + lines + b"\r\n"
    events, status, heads = run_requests([data])
    assert (events, status) == run_requests(bytewise(data))[:2]
    if status is not None:
        assert heads == []
        return
    (head,) = heads
    named = [(line.partition(b":")[0].lower(), line) for line in lines.split(b"\r\n")[:-1]]
    assert head.raw_lines == b"".join(line + b"\r\n" for name, line in named
                                      if name not in REQUEST_NOTED or name == b"host")
    assert head.traced and head.noted == [(name, line.partition(b":")[2].lstrip(b" \t"))
                                          for name, line in named if name in REQUEST_NOTED]


def test_the_one_read_path_comes_back_after_a_head_in_pieces() -> None:
    sink = Sink()
    parser = RequestParser(sink)
    parser.feed(GET[:10])
    parser.feed(GET[10:] + b"\r\n")
    parser.feed(GET + b"\r\n" + GET[:5])  # the next head starts in the same read
    parser.feed(GET[5:] + b"\r\n")
    parser.feed(GET + b"\r\n")
    heads = [e for e in sink.events if isinstance(e, RequestHead)]
    assert [h.raw_lines is not None for h in heads] == [False, True, False, True]


def test_a_body_split_across_reads_then_a_pipelined_request() -> None:
    post = b"POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 6\r\n\r\n"
    pieces = [post + b"ab", b"cd", b"ef" + GET + b"\r\n"]
    events, status, heads = run_requests(pieces)
    assert status is None and all(h.raw_lines is not None for h in heads)
    assert events == run_requests(bytewise(b"".join(pieces)))[0]
    assert events[1:3] == [b"abcdef", "end"]


RESPONSES = {
    "nginx": b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: x\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "no_content": b"HTTP/1.1 204 No Content\r\nX: 1\r\n\r\n",
    "not_modified": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    "empty": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "no_content_cl0": b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "not_modified_cl0": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n"
                        b"Connection: keep-alive\r\n\r\n",
    "until_close": b"HTTP/1.1 200 OK\r\n\r\nstream",
    "http10": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "close": b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
    "named_hop": b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-S\r\nX-S: 1\r\n"
                 b"Content-Length: 0\r\n\r\n",
    "interim": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "duplicate_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "bare_lf": b"HTTP/1.1 200 OK\r\nX: 1\nContent-Length: 1\r\n\r\na",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX: 1\r\n Content-Length: 1\r\n\r\na",
    "bad_name": b"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 1\r\n\r\na",
    "bad_chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "no_reason": b"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\na",
    "cr_in_reason": b"HTTP/1.1 200 O\rK\r\nContent-Length: 1\r\n\r\na",
    "cl_only": b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 1\r\n\r\na",
    "connection_first": b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n"
                        b"\r\na",
    "too_many": b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n",
    "te_gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
}


def run_response(pieces: list[bytes]) -> tuple[list[Any], int | None, list[ResponseHead]]:
    sink = Sink()
    status = feed(ResponseParser(sink), pieces)
    heads = [e for e in sink.events if isinstance(e, ResponseHead)]
    return view(sink.events), status, heads


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_whole_response_heads_read_as_the_callback_path_reads_them(name: str) -> None:
    data = RESPONSES[name]
    assert run_response([data])[:2] == run_response(bytewise(data))[:2]


def test_plain_responses_keep_their_lines() -> None:
    _, status, (head,) = run_response([RESPONSES["nginx"]])
    assert status is None
    assert head.raw_head == (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: x\r\n"
                             b"Content-Type: text/plain\r\n")
    head.add_header(b"x-meshlens-attempts", b"2")
    assert head.raw_head.endswith(b"Content-Type: text/plain\r\nx-meshlens-attempts: 2\r\n")
    assert head.forwarded is not None and head.forwarded[-1] == (b"x-meshlens-attempts", b"2")


def test_a_second_response_in_the_same_read_is_refused() -> None:
    _, status, heads = run_response([RESPONSES["empty"] + RESPONSES["empty"]])
    assert status == 502 and len(heads) == 1


@pytest.mark.parametrize("first", ["named_hop", "empty"])  # callback path, one-read path
def test_a_second_answer_in_the_read_that_ended_the_first_closes_the_connection(
        first: str) -> None:
    transport = RecordingTransport()
    conn = UpstreamConnection(Endpoint("127.0.0.1", 9), UpstreamPool())
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.begin(head_request=False)
    second = b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
    conn.data_received(RESPONSES[first] + second)
    response = conn.response_now()
    assert response is not None and response.status == 200  # the first answer stands
    assert transport.closed  # and nothing more is read from this upstream
