"""A response body stream is reused on its connection only once read to its end."""

from __future__ import annotations

from proxy.body import BodyAborted, BodyStream
from proxy.config import Endpoint
from proxy.testing import RecordingTransport
from proxy.upstream_pool import UpstreamConnection, UpstreamPool

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"


def test_a_stream_read_to_its_end_restarts_empty() -> None:
    stream = BodyStream(lambda: None, lambda: None)
    stream.feed(b"ab")
    stream.end()
    assert stream.read_received() == [b"ab"]
    assert stream.restart()
    assert not stream.ended and stream.read_nowait() is None
    stream.feed(b"cd")
    stream.end()
    assert stream.read_nowait() == b"cd" and stream.read_nowait() == b""


def test_an_unread_unended_or_aborted_stream_does_not_restart() -> None:
    unread = BodyStream(lambda: None, lambda: None)
    unread.feed(b"ab")
    unread.end()
    unended = BodyStream(lambda: None, lambda: None)
    aborted = BodyStream(lambda: None, lambda: None)
    aborted.abort(BodyAborted("gone"))
    assert not unread.restart() and not unended.restart() and not aborted.restart()


def answer(conn: UpstreamConnection, body: bytes) -> BodyStream:
    conn.begin(head_request=False)
    conn.data_received(ANSWER + body)
    assert conn.complete
    return conn.body


def test_a_connection_reuses_its_body_stream_only_after_it_was_read() -> None:
    conn = UpstreamConnection(Endpoint("127.0.0.1", 1), UpstreamPool())
    conn.connection_made(RecordingTransport())  # type: ignore[arg-type]
    first = answer(conn, b"ab")
    assert first.read_received() == [b"ab"]
    second = answer(conn, b"cd")
    assert second is first and second.read_received() == [b"cd"]
    third = answer(conn, b"ef")
    assert third is second
    fourth = answer(conn, b"gh")  # the third answer's body left unread: a new stream
    assert fourth is not third
    assert third.read_received() == [b"ef"] and fourth.read_received() == [b"gh"]
