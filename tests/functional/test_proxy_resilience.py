"""Timeouts, retries with backoff and budget, and circuit breaking, over real sockets."""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import aiohttp
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proxy import Route, Sidecar, SidecarConfig
from proxy.clock import FakeClock
from proxy.resilience.config import (
    CircuitBreakerConfig,
    RetryBudgetConfig,
    RetryConfig,
    RoutePolicy,
    TimeoutConfig,
)
from tests.proxy_upstreams import Proxy, call, events, proxy_to, running_upstream

RUN_ON_UVLOOP = True
FAST_RETRY = RetryConfig(attempts=3, retry_on=("connect-failure", "503"),
                         backoff_base=0.005, backoff_max=0.01)


class _LongestBackoff(random.Random):
    """Full jitter drawn at its ceiling, so the backoff can be measured."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_response_timeout_answers_504_within_the_bound() -> None:
    policy = RoutePolicy(timeout=TimeoutConfig(response=0.3))
    async with running_upstream() as upstream, proxy_to({"catalog": (upstream.port, policy)}) \
            as proxy:
        answer = await call(proxy, "/slow?s=0.8")
        assert answer.status == 504
        assert answer.headers["x-meshlens-reason"] == "timeout"
        assert 0.25 <= answer.seconds < 0.7
        assert (await call(proxy, "/fast")).status == 200  # the proxy is fine afterwards
        spans = await proxy.finished_spans()
    assert events(spans, "timeout") == [{"meshlens.timeout": "response", "meshlens.attempts": 1}]


async def test_total_timeout_bounds_the_head_then_cuts_a_slow_body_by_closing() -> None:
    policy = RoutePolicy(timeout=TimeoutConfig(total=0.3))
    async with running_upstream() as upstream, proxy_to({"catalog": (upstream.port, policy)}) \
            as proxy:
        answer = await call(proxy, "/slow?s=0.8")
        assert answer.status == 504 and answer.seconds < 0.7
        started = time.monotonic()
        with pytest.raises(aiohttp.ClientPayloadError):
            await call(proxy, "/drip?s=0.8")  # 200 went out; the body is cut short
        assert time.monotonic() - started < 0.7
        spans = await proxy.finished_spans()
    assert [e["meshlens.timeout"] for e in events(spans, "timeout")] == ["response", "total"]


async def test_retries_succeed_after_a_flaky_upstreams_two_503s() -> None:
    async with running_upstream() as upstream, proxy_to(
            {"catalog": (upstream.port, RoutePolicy(retry=FAST_RETRY))}) as proxy:
        upstream.failures = 2
        answer = await call(proxy, "/flaky")
        assert (answer.status, answer.body) == (200, b"ok")
        assert answer.headers["x-meshlens-attempts"] == "3"
        assert upstream.count("/flaky") == 3
        spans = await proxy.finished_spans()
    assert events(spans, "retry") == [
        {"meshlens.retry.attempt": 2, "meshlens.retry.reason": "503"},
        {"meshlens.retry.attempt": 3, "meshlens.retry.reason": "503"},
    ]


async def test_retries_give_up_after_max_attempts() -> None:
    async with running_upstream() as upstream, proxy_to(
            {"catalog": (upstream.port, RoutePolicy(retry=FAST_RETRY))}) as proxy:
        upstream.failures = 5
        answer = await call(proxy, "/flaky")
        assert answer.status == 503 and answer.headers["x-meshlens-attempts"] == "3"
        assert upstream.count("/flaky") == 3


async def test_post_is_retried_only_when_the_route_allows_and_its_body_is_replayed() -> None:
    allowed = RetryConfig(attempts=3, retry_on=("503",), backoff_base=0.005,
                          backoff_max=0.01, non_idempotent=True, buffer_bytes=1024)
    async with running_upstream() as upstream, proxy_to({
            "catalog": (upstream.port, RoutePolicy(retry=FAST_RETRY)),
            "orders": (upstream.port, RoutePolicy(retry=allowed))}) as proxy:
        upstream.failures = 2
        refused = await call(proxy, "/flaky", method="POST", data=b"order-1")
        assert refused.status == 503 and upstream.count("/flaky") == 1
        upstream.failures = 2
        answer = await call(proxy, "/flaky", host="orders", method="POST", data=b"order-2")
        assert (answer.status, answer.body) == (200, b"order-2")
        assert [body for _, body in upstream.seen[-3:]] == [b"order-2"] * 3
        upstream.failures = 2
        too_big = await call(proxy, "/flaky", host="orders", method="PUT", data=b"x" * 5000)
        assert too_big.status == 503  # past the replay buffer: one try only
        assert upstream.count("/flaky") == 5


async def test_retry_on_connect_failure_to_a_dead_port() -> None:
    async with running_upstream() as upstream:
        dead_port = upstream.port
    async with proxy_to({"catalog": (dead_port, RoutePolicy(retry=FAST_RETRY))}) as proxy:
        answer = await call(proxy, "/x")
        assert answer.status == 502
        assert answer.headers["x-meshlens-reason"] == "upstream_connect_failure"
        assert answer.headers["x-meshlens-attempts"] == "3"


async def test_backoff_waits_between_attempts() -> None:
    retry = RetryConfig(attempts=3, retry_on=("503",), backoff_base=0.1, backoff_max=1.0)
    async with running_upstream() as upstream, proxy_to(
            {"catalog": (upstream.port, RoutePolicy(retry=retry))}, rng=_LongestBackoff()) \
            as proxy:
        upstream.failures = 2
        assert (await call(proxy, "/flaky")).status == 200
    times = [at for at, _, _ in upstream.hits]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) == 2
    assert 0.1 <= gaps[0] < 0.18  # base
    assert 0.2 <= gaps[1] < 0.28  # base * 2


async def test_retry_budget_caps_extra_load_near_twenty_percent() -> None:
    budget = RetryBudgetConfig(ratio=0.2, min_per_second=0.0, window=10.0)
    retry = RetryConfig(attempts=3, retry_on=("503",), backoff_base=0.001,
                        backoff_max=0.001, budget=budget)
    requests = 60
    async with running_upstream() as upstream, proxy_to(
            {"catalog": (upstream.port, RoutePolicy(retry=retry))}) as proxy:
        for _ in range(requests):
            assert (await call(proxy, "/status/503")).status == 503
        spans = await proxy.finished_spans()
    extra = upstream.count("/status/503") - requests
    assert requests * 0.15 <= extra <= requests * 0.2  # without a budget: 2 x requests
    skipped = events(spans, "retry.skipped")
    assert skipped and all(e == {"meshlens.reason": "budget_exhausted"} for e in skipped)


async def test_breaker_max_requests_answers_503_with_the_reason() -> None:
    policy = RoutePolicy(circuit_breaker=CircuitBreakerConfig(max_requests=2))
    async with running_upstream() as upstream, proxy_to({"catalog": (upstream.port, policy)}) \
            as proxy:
        answers = await asyncio.gather(*(call(proxy, "/slow?s=0.4") for _ in range(5)))
        assert sorted(a.status for a in answers) == [200, 200, 503, 503, 503]
        reasons = [a.headers.get("x-meshlens-reason") for a in answers if a.status == 503]
        assert reasons == ["overflow_max_requests"] * 3
        assert upstream.count("/slow") == 2
        assert (await call(proxy, "/fast")).status == 200  # closed again once they finished
        spans = await proxy.finished_spans()
    assert events(spans, "circuit_breaker.overflow") == \
        [{"meshlens.reason": "overflow_max_requests"}] * 3


async def test_breaker_connections_queue_up_to_max_pending() -> None:
    no_queue = CircuitBreakerConfig(max_connections=1, max_pending=0)
    queue_of_one = CircuitBreakerConfig(max_connections=1, max_pending=1)
    async with running_upstream() as upstream, proxy_to({
            "catalog": (upstream.port, RoutePolicy(circuit_breaker=no_queue)),
            "orders": (upstream.port, RoutePolicy(circuit_breaker=queue_of_one))}) as proxy:
        answers = await asyncio.gather(*(call(proxy, "/slow?s=0.3") for _ in range(2)))
        assert sorted((a.status, a.headers.get("x-meshlens-reason")) for a in answers) == \
            [(200, None), (503, "overflow_max_connections")]
        answers = await asyncio.gather(
            *(call(proxy, "/slow?s=0.3", host="orders") for _ in range(3)))
        assert sorted((a.status, a.headers.get("x-meshlens-reason")) for a in answers) == \
            [(200, None), (200, None), (503, "overflow_max_pending")]
        waited = max(a.seconds for a in answers if a.status == 200)
        assert waited >= 0.55  # the queued one ran after the first finished


async def test_route_timeouts_run_on_the_sidecars_clock() -> None:
    """A FakeClock decides when a route times out: real time alone never does."""
    clock = FakeClock()
    policy = RoutePolicy(timeout=TimeoutConfig(response=5.0))
    async with running_upstream() as upstream:
        config = SidecarConfig(
            service="frontend", version="v1", inbound_port=0, outbound_port=0, admin_port=0,
            app_port=9, routes=(Route(host="catalog", service="catalog", policy=policy,
                                      endpoints=(f"127.0.0.1:{upstream.port}",)),))
        sidecar = Sidecar(config, span_exporter=InMemorySpanExporter(), clock=clock)
        await sidecar.start()
        try:
            proxy = Proxy(sidecar, InMemorySpanExporter())
            answer = asyncio.ensure_future(call(proxy, "/slow?s=2"))
            while not upstream.count("/slow"):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            clock.advance(4.9)
            await asyncio.sleep(0.1)
            assert not answer.done()  # 4.9 s of clock time: within the bound
            clock.advance(0.2)
            done = await asyncio.wait_for(answer, 5)
            assert (done.status, done.headers["x-meshlens-reason"]) == (504, "timeout")
            assert done.seconds < 1.5  # the clock's 5 s, before the upstream's real 2 s
        finally:
            await sidecar.stop()
