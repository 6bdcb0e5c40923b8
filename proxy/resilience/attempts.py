"""The attempts of one request: retries, backoff, budget and timeouts around ``send``.

An attempt picks an endpoint, takes a connection slot from the circuit breaker
and sends the request. A failed attempt (no answer, or an answer whose status
the route retries) is retried while every condition holds: attempts left, an
idempotent method (or the route allows others), the body still replayable, and
room in the retry budget. The last answer is relayed with
``x-meshlens-attempts`` when the route retries; the last failure becomes a
proxy answer: 502 (connect failure, reset), 503 (breaker overflow) or 504
(timeout). Every retry and timeout is a span event.
"""

from __future__ import annotations

from typing import Protocol

from proxy.accept import Exchange
from proxy.clock import Clock
from proxy.config import Endpoint
from proxy.forward import (
    REASON_HEADER,
    Answered,
    AttemptFailed,
    Outcome,
    discard,
    fail,
    relay,
    send,
)
from proxy.http_codec import Headers
from proxy.http_serialize import framing_headers, serialize_request_head
from proxy.resilience.circuit_breaker import CircuitBreaker
from proxy.resilience.config import TimeoutConfig
from proxy.resilience.replay_body import ReplayBody
from proxy.resilience.retry_budget import RetryBudget
from proxy.resilience.retry_policy import RetryPolicy
from proxy.resilience.timeouts import PER_TRY_REASON, Deadlines
from proxy.resilience.timeouts import REASON as TIMEOUT
from proxy.telemetry import Hop
from proxy.upstream_pool import UpstreamPool

ATTEMPTS_HEADER = b"x-meshlens-attempts"


class AttemptPicks(Protocol):
    """Routing's endpoint choice per attempt (``proxy.routing.table.RequestPicks``)."""

    def __call__(self) -> Endpoint: ...

    def report(self, status: int | None, error: str | None) -> None:
        """The real outcome of an attempt that is retried, for outlier detection."""


class Attempts:
    def __init__(self, exchange: Exchange, hop: Hop, pool: UpstreamPool,
                 pick: AttemptPicks, target: bytes, headers: Headers,
                 replay: ReplayBody | None, retry: RetryPolicy | None,
                 budget: RetryBudget | None, breaker: CircuitBreaker | None,
                 timeouts: TimeoutConfig | None, clock: Clock) -> None:
        self._exchange, self._hop, self._pool, self._pick = exchange, hop, pool, pick
        self._replay, self._retry, self._budget, self._breaker = replay, retry, budget, breaker
        self._timeouts, self._clock = timeouts, clock
        head = exchange.head
        self._request = serialize_request_head(
            head.method, target, headers + framing_headers(head.framing, head.content_length))
        self._slot = False  # holding a breaker connection slot
        self._picked = False  # the current attempt has an endpoint
        self.count = 0

    async def run(self) -> Outcome:
        deadlines = Deadlines.start(self._timeouts, self._clock)
        if self._budget is not None:
            self._budget.record_request()
        answered: Answered | None = None
        try:
            try:
                async with deadlines.head_timeout():
                    answered, failure = await self._until_answer(deadlines)
            except TimeoutError:
                self._hop.add_event(TIMEOUT, {"meshlens.timeout": "response",
                                              "meshlens.attempts": self.count})
                return fail(self._exchange, 504, TIMEOUT)
            if answered is None:
                return self._fail(failure)
            if self._retry is not None:
                answered.response.add_header(ATTEMPTS_HEADER, b"%d" % self.count)
            try:
                async with deadlines.total_timeout():
                    return await relay(self._exchange, self._pool, answered)
            except TimeoutError:
                # the head went downstream: closing is the only signal left
                self._hop.add_event(TIMEOUT, {"meshlens.timeout": "total"})
                self._exchange.close_after = True
                return Outcome(answered.response.status, TIMEOUT)
        finally:
            self._release_slot()

    async def _until_answer(self, deadlines: Deadlines) -> tuple[Answered | None, str]:
        """The answer to relay, or None and the reason of the last failure."""
        retry = self._retry
        while True:
            self.count += 1
            answered, failure = await self._attempt(deadlines)
            if answered is not None:
                status = answered.response.status
                reason = retry.retry_reason_for_status(status) if retry else None
            else:
                reason = retry.retry_reason_for_failure(failure) if retry else None
            if retry is None or reason is None or not self._may_retry():
                return answered, failure
            self._hop.add_event("retry", {"meshlens.retry.attempt": self.count + 1,
                                          "meshlens.retry.reason": reason})
            if answered is not None:
                self._pick.report(answered.response.status, None)
                await discard(answered)
                answered = None
            elif self._picked:  # a breaker overflow picked no endpoint
                # a per-try timeout is the gateway timeout the endpoint caused
                self._pick.report(504 if failure == PER_TRY_REASON else None, failure)
            self._release_slot()
            await self._clock.sleep(retry.backoff(self.count))
            if self._replay is not None:
                self._replay.rewind()

    def _may_retry(self) -> bool:
        retry, replay = self._retry, self._replay
        assert retry is not None
        if self.count >= retry.max_attempts:
            return False
        if replay is not None and (replay.overflowed
                                   or replay.kept_bytes > retry.config.buffer_bytes):
            self._hop.add_event("retry.skipped", {"meshlens.reason": "body_too_large"})
            return False
        if self._budget is not None and not self._budget.try_withdraw():
            self._hop.add_event("retry.skipped", {"meshlens.reason": "budget_exhausted"})
            return False
        return True

    async def _attempt(self, deadlines: Deadlines) -> tuple[Answered | None, str]:
        self._picked = False
        if self._breaker is not None:
            overflow = await self._breaker.acquire_connection()
            if overflow is not None:
                self._hop.add_event("circuit_breaker.overflow", {"meshlens.reason": overflow})
                return None, overflow
            self._slot = True
        endpoint = self._pick()
        self._picked = True
        self._hop.set_attribute("network.peer.address", endpoint.host)
        self._hop.set_attribute("network.peer.port", endpoint.port)
        body = self._replay if self._replay is not None else self._exchange.body
        per_try = self._retry.config.per_try_timeout if self._retry is not None else None
        try:
            async with deadlines.attempt_timeout(per_try):
                return await send(self._exchange.head, body, self._pool, endpoint,
                                  self._request), ""
        except AttemptFailed as failed:
            if failed.event is not None:
                self._hop.add_event(*failed.event)
            return None, failed.reason
        except TimeoutError:
            self._hop.add_event(TIMEOUT, {"meshlens.timeout": "per_try",
                                          "meshlens.attempts": self.count})
            return None, PER_TRY_REASON

    def _fail(self, reason: str) -> Outcome:
        if reason == PER_TRY_REASON:
            reason = TIMEOUT
        status = 504 if reason == TIMEOUT else 503 if reason.startswith("overflow_") else 502
        headers = [(REASON_HEADER, reason.encode())]
        if self._retry is not None:
            headers.append((ATTEMPTS_HEADER, str(self.count).encode()))
        self._exchange.respond(status, reason.encode() + b"\n", headers)
        return Outcome(status, reason)

    def _release_slot(self) -> None:
        if self._slot and self._breaker is not None:
            self._slot = False
            self._breaker.release_connection()
