from __future__ import annotations

import pytest

from proxy.config import Route
from proxy.http_codec import (
    Framing,
    HttpError,
    RequestHead,
    RequestParser,
    ResponseHead,
    split_target,
)
from proxy.http_response import ResponseParser
from proxy.http_serialize import (
    encode_chunk,
    end_to_end_headers,
    serialize_request_head,
    simple_response,
)
from proxy.route import RouteTable, split_authority


class Sink:
    def __init__(self) -> None:
        self.heads: list[RequestHead | ResponseHead] = []
        self.body = b""
        self.ends = 0

    def on_head(self, head: RequestHead | ResponseHead) -> None:
        self.heads.append(head)

    def on_body(self, chunk: bytes) -> None:
        self.body += chunk

    def on_end(self) -> None:
        self.ends += 1


def parse_request(*pieces: bytes) -> Sink:
    sink = Sink()
    parser = RequestParser(sink, max_head_bytes=1024)
    for piece in pieces:
        parser.feed(piece)
    return sink


def test_content_length_request_split_across_reads() -> None:
    sink = parse_request(b"POST /a?b=1 HTTP/1.1\r\nHo", b"st: x\r\nContent-Length: 5\r\n\r\nhel",
                         b"lo")
    (head,) = sink.heads
    assert isinstance(head, RequestHead)
    assert (head.method, head.target, head.version) == (b"POST", b"/a?b=1", "1.1")
    assert (head.framing, head.content_length, head.keep_alive) == (Framing.LENGTH, 5, True)
    assert (sink.body, sink.ends) == (b"hello", 1)


def test_chunked_request_and_pipelining() -> None:
    sink = parse_request(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET /2 HTTP/1.0\r\n\r\n")
    assert [h.framing for h in sink.heads] == [Framing.CHUNKED, Framing.NONE]
    assert sink.body == b"abcde" and sink.ends == 2
    assert sink.heads[1].keep_alive is False  # HTTP/1.0 without keep-alive


@pytest.mark.parametrize("raw, status", [
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
     400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
     400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    # an upgrade with a body (h2c-style) is not passed through
    (b"POST / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
     b"Content-Length: 1\r\n\r\na", 501),
    # obs-fold after a header, TE other than chunked, absurd lengths, too many headers
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-H: 1\r\n" * 101 + b"\r\n", 431),
    (b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\n X-Folded: 1\r\n\r\n", 400),
    (b"\x00\x01\x02 garbage\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n", 431),
])
def test_bad_requests_raise_before_reaching_the_sink(raw: bytes, status: int) -> None:
    sink = Sink()
    with pytest.raises(HttpError) as caught:
        RequestParser(sink, max_head_bytes=1024).feed(raw)
    assert caught.value.status == status
    assert sink.heads == []


def test_unterminated_head_is_bounded() -> None:
    parser = RequestParser(Sink(), max_head_bytes=1024)
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ")
    with pytest.raises(HttpError) as caught:
        for _ in range(100):
            parser.feed(b"a" * 100)
    assert caught.value.status == 431


def test_head_response_has_no_body_even_with_content_length() -> None:
    sink = Sink()
    ResponseParser(sink, head_request=True).feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    (head,) = sink.heads
    assert isinstance(head, ResponseHead)
    assert (head.has_body, head.content_length, sink.ends) == (False, 10, 1)


def test_close_delimited_and_no_body_responses() -> None:
    sink = Sink()
    ResponseParser(sink).feed(b"HTTP/1.0 200 OK\r\n\r\nstream")
    head = sink.heads[0]
    assert isinstance(head, ResponseHead) and head.framing is Framing.UNTIL_CLOSE
    sink = Sink()
    ResponseParser(sink).feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    head = sink.heads[0]
    assert isinstance(head, ResponseHead) and not head.has_body and sink.ends == 1


def test_bad_upstream_response_is_a_502() -> None:
    with pytest.raises(HttpError) as caught:
        ResponseParser(Sink()).feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n")
    assert caught.value.status == 502


def test_hop_by_hop_headers_are_dropped() -> None:
    headers = [(b"Host", b"x"), (b"Connection", b"keep-alive, X-Secret"), (b"X-Secret", b"1"),
               (b"Keep-Alive", b"timeout=5"), (b"TE", b"trailers"), (b"Content-Length", b"3"),
               (b"traceparent", b"t"), (b"X-Kept", b"yes")]
    assert end_to_end_headers(headers, drop=frozenset({b"traceparent"})) == [
        (b"Host", b"x"), (b"X-Kept", b"yes")]


def test_serializers() -> None:
    assert serialize_request_head(b"GET", b"/", [(b"Host", b"x")]) == \
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert encode_chunk(b"a" * 26) == b"1a\r\n" + b"a" * 26 + b"\r\n"
    response = simple_response(503, b"no_route\n", [(b"x-meshlens-reason", b"no_route")],
                               close=True)
    assert response.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Content-Length: 9\r\n" in response and b"Connection: close\r\n" in response


def test_split_target_and_authority() -> None:
    assert split_target(b"/a?b") == (None, b"/a?b")
    assert split_target(b"http://catalog:8080/items?x=1") == (b"catalog:8080", b"/items?x=1")
    assert split_target(b"http://catalog") == (b"catalog", b"/")
    with pytest.raises(HttpError):
        split_target(b"nonsense")
    assert split_authority("Catalog:8080") == ("catalog", 8080)
    assert split_authority("[::1]:81") == ("::1", 81)
    assert split_authority("inventory") == ("inventory", None)


def test_route_table_round_robin() -> None:
    table = RouteTable([Route(host="catalog", service="catalog",
                              endpoints=("10.0.0.1:1", "10.0.0.2:2"))])
    head = RequestHead(b"GET", b"/", "1.1", [], True, Framing.NONE, None)
    target = table.match("catalog", head, "/")
    assert target is not None and table.match("other", head, "/") is None
    picks = [str(target.picks()()) for _ in range(4)]
    assert picks == ["10.0.0.1:1", "10.0.0.2:2", "10.0.0.1:1", "10.0.0.2:2"]


def test_body_over_the_limit_is_413_by_length_and_while_streaming() -> None:
    sink = Sink()
    with pytest.raises(HttpError) as caught:
        RequestParser(sink, max_body_bytes=10).feed(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")
    assert caught.value.status == 413 and sink.heads == []
    sink = Sink()
    parser = RequestParser(sink, max_body_bytes=10)
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    parser.feed(b"8\r\n12345678\r\n")
    with pytest.raises(HttpError) as caught:
        parser.feed(b"8\r\n12345678\r\n")
    assert caught.value.status == 413 and sink.body == b"12345678"


def test_upgrade_request_hands_on_the_head_and_returns_the_tunnel_bytes() -> None:
    sink = Sink()
    parser = RequestParser(sink)
    rest = parser.feed(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                       b"Upgrade: websocket\r\n\r\n\x81\x01a")
    (head,) = sink.heads
    assert isinstance(head, RequestHead) and head.upgrade == b"websocket"
    assert rest == b"\x81\x01a"
    assert parser.feed(b"GET / HTTP/1.1\r\n\r\n") == b"GET / HTTP/1.1\r\n\r\n"  # not parsed


def test_101_starts_a_tunnel_only_when_an_upgrade_was_asked_for() -> None:
    switching = (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                 b"Upgrade: ws\r\n\r\n")
    sink = Sink()
    parser = ResponseParser(sink, upgrade=True)
    parser.feed(switching + b"early")
    parser.feed(b"later")
    assert isinstance(sink.heads[0], ResponseHead) and sink.heads[0].status == 101
    assert (sink.body, sink.ends) == (b"earlylater", 0)
    with pytest.raises(HttpError) as caught:
        ResponseParser(Sink()).feed(switching)
    assert caught.value.status == 502


@pytest.mark.parametrize("chunk", [b"zz\r\n", b"fffffffffffffffffff\r\n", b"3\r\nabcdef\r\n",
                                   b"-1\r\n"])
def test_invalid_chunks_are_400_after_the_head(chunk: bytes) -> None:
    # The head was handed on (bodies stream); the Downstream drops or cuts off that
    # exchange, see tests/functional/test_proxy_bad_input.py.
    sink = Sink()
    with pytest.raises(HttpError) as caught:
        RequestParser(sink).feed(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
    assert caught.value.status == 400 and sink.ends == 0
