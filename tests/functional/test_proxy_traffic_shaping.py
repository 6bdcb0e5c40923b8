"""Fault injection, mirroring and local rate limiting, over real sockets."""

from __future__ import annotations

import asyncio
import random
import time

from proxy.resilience.config import FaultConfig, MirrorConfig, RateLimitConfig, RoutePolicy
from tests.proxy_upstreams import call, events, proxy_to, running_upstream

RUN_ON_UVLOOP = True


async def _until(predicate: object, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.01)


async def test_fault_delay_and_abort_hit_their_percentages() -> None:
    fault = FaultConfig(delay=0.03, delay_percent=20.0, abort_status=418, abort_percent=30.0)
    requests = 100
    async with running_upstream() as upstream, proxy_to(
            {"catalog": (upstream.port, RoutePolicy(fault=fault))}, rng=random.Random(7)) \
            as proxy:
        answers = [await call(proxy, "/fast") for _ in range(requests)]
        spans = await proxy.finished_spans()
    aborted = [a for a in answers if a.status == 418]
    assert all(a.headers["x-meshlens-reason"] == "fault_abort" for a in aborted)
    assert 18 <= len(aborted) <= 42  # 30% +- 4 standard deviations
    assert upstream.count("/fast") == requests - len(aborted)  # aborts never go upstream
    delayed = len(events(spans, "fault.delay"))
    assert 8 <= delayed <= 32
    slow = sum(1 for a in answers if a.seconds >= 0.03)
    # every delayed answer is slow; on a loaded machine an undelayed one may be too
    assert delayed <= slow <= delayed + 3
    assert len(events(spans, "fault.abort")) == len(aborted)


async def test_no_fault_at_zero_percent_and_every_request_at_hundred() -> None:
    none = FaultConfig(abort_percent=0.0)
    every = FaultConfig(abort_status=503, abort_percent=100.0)
    async with running_upstream() as upstream, proxy_to({
            "catalog": (upstream.port, RoutePolicy(fault=none)),
            "orders": (upstream.port, RoutePolicy(fault=every))}) as proxy:
        assert {(await call(proxy, "/x")).status for _ in range(20)} == {200}
        assert {(await call(proxy, "/x", host="orders")).status for _ in range(20)} == {503}
        assert upstream.count("/x") == 20


async def test_mirror_gets_copies_and_the_client_gets_the_primary() -> None:
    async with running_upstream() as primary, running_upstream() as shadow:
        mirror = MirrorConfig(host="catalog-v2", percent=100.0)
        async with proxy_to({"catalog": (primary.port, RoutePolicy(mirror=mirror)),
                             "catalog-v2": (shadow.port, RoutePolicy())}) as proxy:
            shadow.failures = 10  # whatever the mirror answers stays with the proxy
            for i in range(3):
                answer = await call(proxy, "/flaky", method="POST", data=f"order-{i}".encode())
                assert (answer.status, answer.body) == (200, f"order-{i}".encode())
            assert (await call(proxy, "/get")).status == 200
            await _until(lambda: len(shadow.seen) == 4)
            spans = await proxy.finished_spans()
    assert sorted(body for _, body in shadow.seen) == [b"", b"order-0", b"order-1", b"order-2"]
    for headers, _ in shadow.seen:
        assert headers["Host"] == "catalog-shadow"
        assert headers["x-meshlens-mirror"] == "1"
    assert all("x-meshlens-mirror" not in h for h, _ in primary.seen)
    assert len(events(spans, "mirror")) == 4


async def test_a_slow_mirror_never_slows_the_client_and_overflow_is_dropped() -> None:
    async with running_upstream() as primary, running_upstream() as shadow:
        shadow.delay = 2.0
        mirror = MirrorConfig(host="catalog-v2", percent=100.0, max_concurrent=2)
        async with proxy_to({"catalog": (primary.port, RoutePolicy(mirror=mirror)),
                             "catalog-v2": (shadow.port, RoutePolicy())}) as proxy:
            answers = [await call(proxy, "/fast") for _ in range(5)]
            assert all(a.status == 200 and a.seconds < 0.5 for a in answers)
            await _until(lambda: len(shadow.seen) == 2, 0.5)
            await asyncio.sleep(0.1)
            assert len(shadow.seen) == 2  # max_concurrent copies; the rest were dropped


async def test_mirror_percentage_samples_requests() -> None:
    async with running_upstream() as primary, running_upstream() as shadow:
        mirror = MirrorConfig(host="catalog-v2", percent=25.0)
        async with proxy_to({"catalog": (primary.port, RoutePolicy(mirror=mirror)),
                             "catalog-v2": (shadow.port, RoutePolicy())},
                            rng=random.Random(3)) as proxy:
            for _ in range(80):
                assert (await call(proxy, "/fast")).status == 200
            await asyncio.sleep(0.2)
    assert 8 <= len(shadow.seen) <= 32  # 25% of 80 +- 4 standard deviations


async def test_rate_limit_lets_a_burst_through_then_answers_429_with_retry_after() -> None:
    limit = RateLimitConfig(rate=0.5, burst=3)
    async with running_upstream() as upstream, proxy_to(
            {"catalog": (upstream.port, RoutePolicy(rate_limit=limit))}) as proxy:
        answers = [await call(proxy, "/x") for _ in range(5)]
        spans = await proxy.finished_spans()
    assert [a.status for a in answers] == [200, 200, 200, 429, 429]
    limited = answers[3]
    assert limited.headers["x-meshlens-reason"] == "rate_limited"
    assert limited.headers["Retry-After"] == "2"  # one token every two seconds
    assert upstream.count("/x") == 3
    assert len(events(spans, "rate_limited")) == 2
