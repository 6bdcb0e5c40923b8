"""Resilience parts on their own: config blocks, token bucket, budget, backoff, breaker."""

from __future__ import annotations

import asyncio
import random

import pytest

from proxy.clock import ClockTimeout, FakeClock
from proxy.faults import FaultInjector
from proxy.rate_limit import TokenBucket, retry_after_header
from proxy.resilience.circuit_breaker import CircuitBreaker
from proxy.resilience.config import (
    CircuitBreakerConfig,
    FaultConfig,
    RetryBudgetConfig,
    RetryConfig,
    RoutePolicy,
    TimeoutConfig,
    parse_route_policy,
)
from proxy.resilience.replay_body import ReplayBody
from proxy.resilience.retry_budget import RetryBudget
from proxy.resilience.retry_policy import RetryPolicy
from proxy.resilience.timeouts import Deadlines

FULL_ROUTE = {
    "timeout": {"response": "2s", "total": "30s"},
    "retry": {"attempts": 3, "retry_on": ["connect-failure", "reset", 503, "gateway-error"],
              "per_try_timeout": "500ms", "backoff": {"base": "25ms", "max": "250ms"},
              "budget": {"ratio": 0.2, "min_per_second": 10, "window": "10s"},
              "non_idempotent": False, "buffer_bytes": 65536},
    "circuit_breaker": {"max_connections": 100, "max_pending": 10, "max_requests": 200},
    "fault": {"delay": {"duration": "100ms", "percent": 10},
              "abort": {"status": 503, "percent": 5}},
    "mirror": {"host": "catalog-v2", "percent": 10, "max_concurrent": 16},
    "rate_limit": {"rate": 100, "burst": 200},
}


def _parse(route: dict[str, object]) -> tuple[RoutePolicy, list[str]]:
    errors: list[str] = []
    policy = parse_route_policy(route, "routes[0]", lambda k, m: errors.append(f"{k}: {m}"))
    return policy, errors


def test_every_block_parses() -> None:
    policy, errors = _parse(FULL_ROUTE)
    assert errors == []
    assert policy.timeout is not None and policy.retry is not None
    assert (policy.timeout.response, policy.timeout.total) == (2.0, 30.0)
    retry = policy.retry
    assert retry.retry_on == ("connect-failure", "reset", "503", "gateway-error")
    assert (retry.per_try_timeout, retry.backoff_base, retry.backoff_max) == (0.5, 0.025, 0.25)
    assert policy.fault == FaultConfig(delay=0.1, delay_percent=10.0, abort_status=503,
                                       abort_percent=5.0)
    assert policy.circuit_breaker == CircuitBreakerConfig(max_connections=100, max_pending=10,
                                                          max_requests=200)
    assert policy.to_dict()["rate_limit"] == {"rate": 100.0, "burst": 200}


def test_every_error_is_reported_with_its_place() -> None:
    _, errors = _parse({
        "timeout": {"response": "soon", "total": "1s", "extra": 1},
        "retry": {"attempts": 0, "retry_on": ["teapot"], "backoff": {"base": "1s", "max": "10ms"}},
        "circuit_breaker": {"max_requests": -1},
        "fault": {"abort": {"status": 99, "percent": 120}},
        "mirror": {"percent": 10},
        "rate_limit": {"rate": 10},
    })
    assert sorted(errors) == sorted([
        "routes[0].timeout.response: expected a positive duration like 250ms or 2s, got 'soon'",
        "routes[0].timeout.extra: unknown key",
        "routes[0].retry.attempts: must be an integer 1..10, got 0",
        "routes[0].retry.retry_on[0]: expected one of ['5xx', 'connect-failure', "
        "'gateway-error', 'reset', 'timeout'] or a status 400..599, got 'teapot'",
        "routes[0].retry.backoff.max: must not be shorter than base",
        "routes[0].circuit_breaker.max_requests: must be an integer 1..1073741824, got -1",
        "routes[0].fault.abort.status: must be an integer 200..599, got 99",
        "routes[0].fault.abort.percent: must be 0..100, got 120",
        "routes[0].mirror.host: expected the host of a route, got None",
        "routes[0].rate_limit.burst: required",
    ])


def test_token_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=2, clock=clock)
    assert [bucket.try_acquire() for _ in range(2)] == [0.0, 0.0]
    assert bucket.try_acquire() == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.try_acquire() == 0.0
    clock.advance(10)
    assert bucket.tokens == 0.0 and bucket.try_acquire() == 0.0  # capped at burst, then 1 used
    assert retry_after_header(0.2) == b"1" and retry_after_header(2.01) == b"3"


def test_retry_budget_allows_the_ratio_plus_the_floor_and_forgets_old_requests() -> None:
    clock = FakeClock()
    budget = RetryBudget(RetryBudgetConfig(ratio=0.2, min_per_second=0.0, window=10.0), clock)
    for _ in range(10):
        budget.record_request()
    assert [budget.try_withdraw() for _ in range(3)] == [True, True, False]
    clock.advance(10.0)  # the window has moved past every deposit
    assert budget.try_withdraw() is False and budget.exhausted == 2
    floor = RetryBudget(RetryBudgetConfig(ratio=0.2, min_per_second=1.0, window=2.0), clock)
    assert [floor.try_withdraw() for _ in range(3)] == [True, True, False]


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(RetryConfig(backoff_base=0.1, backoff_max=0.3), random.Random(1))
    for retry, ceiling in ((1, 0.1), (2, 0.2), (3, 0.3), (6, 0.3)):
        waits = [policy.backoff(retry) for _ in range(200)]
        assert 0.0 <= min(waits) and max(waits) <= ceiling
        assert max(waits) > ceiling * 0.9  # the whole range is used


def test_retry_conditions_and_methods() -> None:
    policy = RetryPolicy(RetryConfig(retry_on=("connect-failure", "503", "gateway-error")))
    assert policy.retry_reason_for_status(503) == "503"
    assert policy.retry_reason_for_status(504) == "504"
    assert policy.retry_reason_for_status(500) is None
    assert policy.retry_reason_for_failure("upstream_connect_failure") == "connect-failure"
    assert policy.retry_reason_for_failure("per_try_timeout") is None
    assert policy.allows_method(b"PUT") and not policy.allows_method(b"POST")
    only_timeouts = RetryPolicy(RetryConfig(retry_on=("timeout",), non_idempotent=True))
    assert only_timeouts.retry_reason_for_failure("per_try_timeout") == "timeout"
    assert only_timeouts.retry_reason_for_failure("upstream_reset") is None
    assert only_timeouts.allows_method(b"POST")


def test_fault_injector_follows_its_percentages() -> None:
    faults = FaultInjector(FaultConfig(delay=0.1, delay_percent=50.0, abort_percent=10.0),
                           random.Random(5))
    decisions = [faults.decide() for _ in range(2000)]
    assert 900 <= sum(1 for d in decisions if d.delay) <= 1100
    assert 150 <= sum(1 for d in decisions if d.abort_status == 503) <= 250


async def test_breaker_queues_for_connections_and_hands_slots_over() -> None:
    breaker = CircuitBreaker(CircuitBreakerConfig(max_connections=1, max_pending=1,
                                                  max_requests=3))
    assert [breaker.try_admit() for _ in range(4)] == [None, None, None,
                                                       "overflow_max_requests"]
    assert await breaker.acquire_connection() is None
    waiter = asyncio.ensure_future(breaker.acquire_connection())
    await asyncio.sleep(0)
    assert breaker.pending == 1
    assert await breaker.acquire_connection() == "overflow_max_pending"
    breaker.release_connection()
    assert await waiter is None and breaker.connections == 1
    breaker.release_connection()
    assert breaker.connections == 0


async def test_replay_body_replays_what_fits_and_refuses_what_does_not() -> None:
    class Source:
        def __init__(self, *chunks: bytes) -> None:
            self.chunks = list(chunks)

        async def read(self) -> bytes:
            return self.chunks.pop(0) if self.chunks else b""

    body = ReplayBody(Source(b"ab", b"cd"), limit=8)
    assert await body.read() == b"ab"
    assert body.rewind()
    assert [await body.read() for _ in range(3)] == [b"ab", b"cd", b""]
    assert body.complete_body() == b"abcd"
    big = ReplayBody(Source(b"abcd", b"efgh", b"ij"), limit=8)
    assert [await big.read() for _ in range(4)] == [b"abcd", b"efgh", b"ij", b""]
    assert not big.rewind() and big.complete_body() is None


async def test_deadlines_fire_when_the_clock_says_so() -> None:
    clock = FakeClock()
    deadlines = Deadlines.start(TimeoutConfig(response=2.0, total=5.0), clock)
    assert (deadlines.head, deadlines.total) == (1002.0, 1005.0)
    blocked: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait_for_head() -> None:
        async with deadlines.head_timeout():
            await blocked

    waiting = asyncio.ensure_future(wait_for_head())
    await asyncio.sleep(0)
    clock.advance(1.9)
    await asyncio.sleep(0.01)
    assert not waiting.done()  # real time passes, clock time is short of the deadline
    clock.advance(0.2)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(waiting, 1)
    async with deadlines.total_timeout():  # left in time: its timer is cancelled
        await asyncio.sleep(0)
    clock.advance(10)
    await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError):
        async with ClockTimeout(clock, clock.monotonic() - 1):  # already past: at once
            await asyncio.sleep(1)
