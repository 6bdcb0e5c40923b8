"""A connection's inline exchanges take turns in one Exchange (proxy.downstream).

Reused only while nothing else is in flight: each request gets its own head and
``close_after``, and an exchange the inline path leaves to the worker is never
handed out again.
"""

from __future__ import annotations

import asyncio

import pytest

from proxy.accept import Downstream, Exchange, Listener
from proxy.http_codec import HttpError
from proxy.testing import RecordingTransport

GET = b"GET /%d HTTP/1.1\r\nHost: app\r\n\r\n"


class AnsweringHandler:
    """Answers inline at once, except the targets in ``to_worker``."""

    def __init__(self, to_worker: frozenset[bytes] = frozenset()) -> None:
        self.to_worker = to_worker
        self.inline_seen: list[tuple[Exchange, bytes, bool]] = []
        self.worker_seen: list[Exchange] = []

    def inline(self, exchange: Exchange) -> bool:
        self.inline_seen.append((exchange, exchange.head.target, exchange.close_after))
        if exchange.head.target in self.to_worker:
            return False
        exchange.respond(200, b"ok")
        exchange.conn.inline_done()
        return True

    async def __call__(self, exchange: Exchange) -> None:
        self.worker_seen.append(exchange)
        exchange.respond(200, b"ok")


def connection(handler: AnsweringHandler) -> tuple[Downstream, RecordingTransport]:
    downstream, transport = Downstream(Listener("in", handler, "127.0.0.1", 0)), \
        RecordingTransport()
    downstream.connection_made(transport)  # type: ignore[arg-type]
    return downstream, transport


async def test_inline_requests_one_after_another_share_one_exchange() -> None:
    handler = AnsweringHandler()
    downstream, transport = connection(handler)
    downstream.data_received(GET % 1)
    downstream.data_received(GET % 2)
    downstream.data_received(b"GET /3 HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
    (first, _, _), (second, _, _), (third, _, _) = handler.inline_seen
    assert first is second is third
    assert [(target, close) for _, target, close in handler.inline_seen] == \
        [(b"/1", False), (b"/2", False), (b"/3", True)]
    assert len(transport.out) == 3


async def test_an_exchange_left_to_the_worker_is_not_handed_out_again() -> None:
    handler = AnsweringHandler(to_worker=frozenset({b"/2"}))
    downstream, _ = connection(handler)
    downstream.data_received(GET % 1)
    downstream.data_received(GET % 2)  # declined inline: queued for the worker
    for _ in range(5):
        await asyncio.sleep(0)
    (queued,) = handler.worker_seen
    downstream.data_received(GET % 3)
    first, second, third = (seen[0] for seen in handler.inline_seen)
    assert first is second is queued
    assert third is not queued and queued.head.target == b"/2"
    downstream.close()


class FailingHandler(AnsweringHandler):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def inline(self, exchange: Exchange) -> bool:
        raise self.error


async def test_an_inline_refusal_is_answered_and_closes_the_connection() -> None:
    downstream, transport = connection(FailingHandler(HttpError(400, "invalid request target")))
    downstream.data_received(GET % 1)
    (answer,) = transport.out
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer
    assert transport.closed and not downstream.in_flight


async def test_an_inline_failure_is_logged_and_closes_the_connection(
        caplog: pytest.LogCaptureFixture) -> None:
    downstream, transport = connection(FailingHandler(RuntimeError("bug")))
    downstream.data_received(GET % 1)
    assert transport.out == [] and transport.closed and not downstream.in_flight
    assert "request handler failed" in caplog.text
