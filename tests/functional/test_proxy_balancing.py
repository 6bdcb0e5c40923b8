"""Load balancing, outlier ejection and active health checks over real sockets.

Ejection times run on a FakeClock: the test moves time, the proxy never sleeps.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from proxy.clock import FakeClock
from tests.proxy_fleet import (
    App,
    client_of,
    closed_port,
    running_apps,
    running_sidecar,
    sidecar_config,
)

RUN_ON_UVLOOP = True


def _destination(apps: list[App], **extra: Any) -> dict[str, Any]:
    return {"service": "catalog", "endpoints": [a.address for a in apps], **extra}


ROUTES = [{"host": "catalog"}]


async def test_round_robin_spreads_evenly() -> None:
    async with running_apps("a", "b", "c") as apps:
        config = sidecar_config(ROUTES, [_destination(list(apps.values()))])
        async with running_sidecar(config) as sidecar, client_of(sidecar) as client:
            assert await client.tally(30) == Counter(a=10, b=10, c=10)


async def test_least_request_prefers_the_less_loaded_endpoint() -> None:
    # "slow" holds each request 40 ms, so requests pile up there; with 8 in
    # flight at once the two choices keep sending new ones to "fast"
    async with running_apps("fast", "slow", delays={"slow": 0.04}) as apps:
        config = sidecar_config(ROUTES, [_destination(list(apps.values()),
                                                      lb="least_request")])
        async with running_sidecar(config) as sidecar, client_of(sidecar) as client:
            answers = await client.tally(200, concurrency=8)
    assert sum(answers.values()) == 200
    assert answers["fast"] >= 150, answers
    # it only gets one while it has no more in flight than "fast": at most half of 8
    assert apps["slow"].max_in_flight <= 4


async def test_peak_ewma_keeps_traffic_off_a_slow_endpoint() -> None:
    async with running_apps("fast", "slow", delays={"slow": 0.05}) as apps:
        config = sidecar_config(ROUTES, [_destination(list(apps.values()), lb="ewma")])
        async with running_sidecar(config) as sidecar, client_of(sidecar) as client:
            answers = await client.tally(100, concurrency=2)
    # one request at a time would not tell it from least request: both idle
    assert answers["fast"] >= 90, answers


async def test_round_robin_without_latency_awareness_does_hit_the_slow_one() -> None:
    async with running_apps("fast", "slow", delays={"slow": 0.05}) as apps:
        config = sidecar_config(ROUTES, [_destination(list(apps.values()))])
        async with running_sidecar(config) as sidecar, client_of(sidecar) as client:
            answers = await client.tally(20, concurrency=2)
    assert answers == Counter(fast=10, slow=10)  # the EWMA test above is not vacuous


async def test_outlier_ejected_after_consecutive_5xx_and_back_after_ejection_time() -> None:
    clock = FakeClock()
    async with running_apps("good", "bad") as apps:
        apps["bad"].status = 500
        outliers = {"consecutive_5xx": 3, "base_ejection_time": "30s",
                    "max_ejection_percent": 50}
        config = sidecar_config(ROUTES, [_destination(list(apps.values()),
                                                      outlier_detection=outliers)])
        async with running_sidecar(config, clock=clock) as sidecar, \
                client_of(sidecar) as client:
            first = await client.tally(6)  # round robin: bad fails 3 times, then is out
            assert first == Counter({"good": 3, "status:500": 3})
            assert await client.tally(20) == Counter(good=20)
            clock.advance(29.9)
            assert await client.tally(10) == Counter(good=10)
            clock.advance(0.2)  # back after 30 s; fails 3 more, out for 2 x 30 s now
            assert (await client.tally(6))["status:500"] == 3
            assert sidecar.routes is not None
            (destination,) = sidecar.routes.describe()
            bad = next(e for e in destination["endpoints"] if e["address"] ==
                       apps["bad"].address)
            assert bad["ejected"] and bad["times_ejected"] == 2
            assert bad["ejected_for_s"] == 60.0
            apps["bad"].status = 200
            clock.advance(60.0)
            assert await client.tally(10) == Counter(good=5, bad=5)


async def test_max_ejection_percent_keeps_endpoints_in_service() -> None:
    clock = FakeClock()
    async with running_apps("a", "b", "c", "d") as apps:
        for app in apps.values():
            app.status = 503
        outliers = {"consecutive_5xx": 2, "max_ejection_percent": 50}
        config = sidecar_config(ROUTES, [_destination(list(apps.values()),
                                                      outlier_detection=outliers)])
        async with running_sidecar(config, clock=clock) as sidecar, \
                client_of(sidecar) as client:
            await client.tally(40)
            assert sidecar.routes is not None
            (destination,) = sidecar.routes.describe()
    ejected = [e["address"] for e in destination["endpoints"] if e["ejected"]]
    assert len(ejected) == 2  # half of four, though all four fail
    still_in = {a.name for a in apps.values() if a.address not in ejected}
    assert all(apps[name].hits > 10 for name in still_in)


async def test_connect_failures_eject_a_dead_endpoint() -> None:
    clock = FakeClock()
    async with running_apps("alive") as apps:
        dead = f"127.0.0.1:{await closed_port()}"
        outliers = {"consecutive_connect_failures": 1, "max_ejection_percent": 50}
        config = sidecar_config(ROUTES, [{"service": "catalog", "outlier_detection": outliers,
                                          "endpoints": [apps["alive"].address, dead]}])
        async with running_sidecar(config, clock=clock) as sidecar, \
                client_of(sidecar) as client:
            answers = await client.tally(20)
    assert answers == Counter({"alive": 19, "status:502": 1})


async def test_active_health_check_marks_a_dead_endpoint_and_traffic_avoids_it() -> None:
    clock = FakeClock()  # the checks' interval never passes: only the first round runs
    async with running_apps("alive") as apps:
        dead = f"127.0.0.1:{await closed_port()}"
        health = {"path": "/healthz", "interval": "10s", "timeout": "1s",
                  "unhealthy_threshold": 1}
        config = sidecar_config(ROUTES, [{"service": "catalog", "health_check": health,
                                          "endpoints": [apps["alive"].address, dead]}])
        async with running_sidecar(config, clock=clock) as sidecar, \
                client_of(sidecar) as client:
            routes = sidecar.routes
            assert routes is not None
            check = routes.destinations["catalog"].health_check
            assert check is not None
            for _ in range(200):
                if check.rounds:
                    break
                await asyncio.sleep(0.01)
            assert check.rounds == 1 and clock.sleepers == 1
            assert await client.tally(20) == Counter(alive=20)
            assert apps["alive"].health_checks == 1
            (destination,) = routes.describe()
    health_by_address = {e["address"]: e["healthy"] for e in destination["endpoints"]}
    assert health_by_address == {apps["alive"].address: True, dead: False}


async def test_all_unhealthy_is_panic_mode_and_traffic_still_flows() -> None:
    clock = FakeClock()
    async with running_apps("a", "b") as apps:
        for app in apps.values():
            app.healthy = False
        health = {"path": "/healthz", "interval": "10s", "unhealthy_threshold": 1}
        config = sidecar_config(ROUTES, [_destination(list(apps.values()),
                                                      health_check=health)])
        async with running_sidecar(config, clock=clock) as sidecar, \
                client_of(sidecar) as client:
            routes = sidecar.routes
            assert routes is not None
            check = routes.destinations["catalog"].health_check
            assert check is not None
            for _ in range(200):
                if check.rounds:
                    break
                await asyncio.sleep(0.01)
            assert not any(e["healthy"] for e in routes.describe()[0]["endpoints"])
            assert await client.tally(10) == Counter(a=5, b=5)


async def test_hot_swap_keeps_the_ejection_of_a_persisting_endpoint() -> None:
    clock = FakeClock()
    async with running_apps("good", "bad", "new") as apps:
        apps["bad"].status = 500
        outliers = {"consecutive_5xx": 1, "max_ejection_percent": 50}
        first = sidecar_config(ROUTES, [_destination([apps["good"], apps["bad"]],
                                                     outlier_detection=outliers)])
        async with running_sidecar(first, clock=clock) as sidecar, \
                client_of(sidecar) as client:
            await client.tally(2)
            second = sidecar_config(ROUTES, [_destination(list(apps.values()),
                                                          outlier_detection=outliers)])
            await sidecar.apply_config(second)
            assert await client.tally(10) == Counter(good=5, new=5)


RETRY_FAST = {"attempts": 2, "backoff": {"base": "1ms", "max": "1ms"}}


async def test_a_retried_503_counts_toward_ejection() -> None:
    async with running_apps("good", "bad") as apps:
        apps["bad"].status = 503
        outliers = {"consecutive_5xx": 3, "base_ejection_time": "30s",
                    "max_ejection_percent": 50}
        routes = [{"host": "catalog", "retry": {**RETRY_FAST, "retry_on": ["503"]}}]
        config = sidecar_config(routes, [_destination(list(apps.values()),
                                                      outlier_detection=outliers)])
        async with running_sidecar(config) as sidecar, client_of(sidecar) as client:
            # every 503 of bad is retried on good: the client never sees one
            assert await client.tally(20) == Counter(good=20)
            assert sidecar.routes is not None
            (destination,) = sidecar.routes.describe()
    bad = next(e for e in destination["endpoints"] if e["address"] == apps["bad"].address)
    assert bad["ejected"] and bad["times_ejected"] == 1
    assert apps["bad"].hits == 3  # three 503s in a row, then out


async def test_a_retried_connect_failure_counts_as_a_connect_failure() -> None:
    async with running_apps("alive") as apps:
        dead = f"127.0.0.1:{await closed_port()}"
        # only connect failures can eject here: 5xx would need 100 in a row
        outliers = {"consecutive_connect_failures": 2, "consecutive_5xx": 100,
                    "max_ejection_percent": 50}
        routes = [{"host": "catalog", "retry": {**RETRY_FAST, "retry_on": ["connect-failure"]}}]
        config = sidecar_config(routes, [{"service": "catalog", "outlier_detection": outliers,
                                          "endpoints": [apps["alive"].address, dead]}])
        async with running_sidecar(config) as sidecar, client_of(sidecar) as client:
            assert await client.tally(20) == Counter(alive=20)
            assert sidecar.routes is not None
            (destination,) = sidecar.routes.describe()
    out = next(e for e in destination["endpoints"] if e["address"] == dead)
    assert out["ejected"] and out["times_ejected"] == 1
