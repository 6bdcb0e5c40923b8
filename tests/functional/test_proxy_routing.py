"""Route matching, weighted version splits, A/B routes and config hot swap, over
real sockets: a client sidecar routing to several versions of one upstream app."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import aiohttp

from proxy import Sidecar, SidecarConfig
from tests.proxy_fleet import (
    App,
    client_of,
    labeled,
    running_apps,
    running_sidecar,
    sidecar_config,
)

RUN_ON_UVLOOP = True
VERSIONS = {"one": "v1", "two": "v2"}


def _destination(apps: dict[str, App], lb: str = "round_robin") -> dict[str, Any]:
    return {"service": "catalog", "lb": lb, "endpoints": labeled(apps.values(), VERSIONS)}


async def test_first_matching_route_wins_on_path_method_header_and_cookie() -> None:
    async with running_apps("one", "two") as apps:
        routes: list[dict[str, Any]] = [
            {"host": "catalog", "match": {"path": {"exact": "/exact"}}, "version": "v2"},
            {"host": "catalog", "match": {"path": {"regex": "/items/[0-9]+"}}, "version": "v2"},
            {"host": "catalog", "match": {"path": {"prefix": "/admin/"}, "method": ["DELETE"]},
             "version": "v2"},
            {"host": "catalog", "match": {"headers": {"x-user": {"regex": "(alice|bob)"},
                                                      "x-debug": {"present": True}}},
             "version": "v2"},
            {"host": "catalog", "match": {"cookies": {"beta": {"exact": "yes"}}},
             "version": "v2"},
            {"host": "catalog", "version": "v1"},
        ]
        config = sidecar_config(routes, [_destination(apps)])
        async with running_sidecar(config) as sidecar, client_of(sidecar) as client:
            cases: list[tuple[str, str, dict[str, str], str]] = [
                ("/exact", "GET", {}, "two"),
                ("/exact/more", "GET", {}, "one"),  # exact is exact
                ("/exact?q=1", "GET", {}, "two"),  # the query string is not part of the path
                ("/items/42", "GET", {}, "two"),
                ("/items/42x", "GET", {}, "one"),  # regexes match the whole path
                ("/admin/users", "DELETE", {}, "two"),
                ("/admin/users", "GET", {}, "one"),  # method does not fit
                ("/", "GET", {"X-User": "alice", "x-debug": ""}, "two"),
                ("/", "GET", {"x-user": "alice"}, "one"),  # x-debug absent
                ("/", "GET", {"x-user": "mallory", "x-debug": "1"}, "one"),
                ("/", "GET", {"Cookie": "theme=dark; beta=yes"}, "two"),
                ("/", "GET", {"Cookie": "beta=no"}, "one"),
                ("/", "GET", {}, "one"),
            ]
            for path, method, headers, expected in cases:
                status, body = await client.get(path, method, headers)
                assert (status, body) == (200, expected), (path, method, headers)


async def test_unmatched_request_for_a_known_host_is_no_route() -> None:
    async with running_apps("one", "two") as apps:
        routes = [{"host": "catalog", "match": {"method": "GET"}, "version": "v1"}]
        config = sidecar_config(routes, [_destination(apps)])
        async with running_sidecar(config) as sidecar, client_of(sidecar) as client:
            assert await client.get("/", "POST") == (503, "no_route\n")
            assert (await client.get("/"))[0] == 200


async def test_weighted_split_80_20_over_1000_requests() -> None:
    async with running_apps("one", "two") as apps:
        routes = [{"host": "catalog", "split": [{"version": "v1", "weight": 80},
                                                 {"version": "v2", "weight": 20}]}]
        config = sidecar_config(routes, [_destination(apps)])
        async with running_sidecar(config, rng=random.Random(7)) as sidecar, \
                client_of(sidecar) as client:
            answers = await client.tally(1000, concurrency=10)
    assert sum(answers.values()) == 1000
    # 3 standard deviations of a binomial(1000, 0.2) are about 38
    assert 760 <= answers["one"] <= 840, answers
    assert apps["two"].hits == answers["two"]


async def test_ab_header_sends_testers_to_v2_and_everyone_else_to_v1() -> None:
    async with running_apps("one", "two") as apps:
        routes: list[dict[str, Any]] = [
            {"host": "catalog", "match": {"headers": {"x-canary": "always"}}, "version": "v2"},
            {"host": "catalog", "split": [{"version": "v1", "weight": 100},
                                          {"version": "v2", "weight": 0}]},
        ]
        config = sidecar_config(routes, [_destination(apps)])
        async with running_sidecar(config) as sidecar, client_of(sidecar) as client:
            testers = await client.tally(50, headers={"x-canary": "always"})
            others = await client.tally(50, headers={"x-canary": "sometimes"})
    assert testers == Counter(two=50)
    assert others == Counter(one=50)


async def test_hot_swap_20_times_under_load_fails_no_request() -> None:
    async with running_apps("one", "two") as apps:
        # a little latency keeps requests in flight across every swap
        for app in apps.values():
            app.delay = 0.002

        def config(weight_v2: int, lb: str) -> SidecarConfig:
            routes = [{"host": "catalog", "split": [
                {"version": "v1", "weight": 100 - weight_v2},
                {"version": "v2", "weight": weight_v2}]}]
            return sidecar_config(routes, [_destination(apps, lb)])

        async with running_sidecar(config(0, "round_robin")) as sidecar, \
                client_of(sidecar) as client:
            stop = asyncio.Event()
            answers: Counter[str] = Counter()

            async def load() -> None:
                while not stop.is_set():
                    status, body = await client.get("/")
                    answers[body if status == 200 else f"status:{status}"] += 1

            async def answered(more: int) -> None:
                """Until ``more`` further answers are back (on a busy machine too)."""
                wanted = sum(answers.values()) + more
                while sum(answers.values()) < wanted:
                    await asyncio.sleep(0.005)

            workers = [asyncio.create_task(load()) for _ in range(8)]
            for i in range(20):
                await answered(10)  # requests answered between every two swaps
                lb = ("round_robin", "least_request", "ewma")[i % 3]
                assert await sidecar.apply_config(config((i + 1) * 5, lb)) == ()
            stop.set()
            await asyncio.gather(*workers)
            assert sidecar.config.routes[0].split[1].weight == 100
            assert await client.tally(20) == Counter(two=20)  # the last config is in force
    assert set(answers) <= {"one", "two"}, answers  # no 5xx, no reset
    assert answers["two"] > 0 and sum(answers.values()) >= 200


async def test_hot_swap_keeps_connections_and_reports_fields_that_need_a_restart() -> None:
    async with running_apps("one", "two") as apps:
        routes = [{"host": "catalog", "version": "v1"}]
        first = sidecar_config(routes, [_destination(apps)])
        async with running_sidecar(first) as sidecar, client_of(sidecar) as client:
            assert await client.get("/") == (200, "one")
            accepted = sidecar.stats()["outbound"]["accepted"]
            moved = sidecar_config([{"host": "catalog", "version": "v2"}], [_destination(apps)])
            changed = SidecarConfig.from_mapping({**moved.to_dict(), "admin_port": 1,
                                                  "routes": [r.to_dict() for r in moved.routes],
                                                  "destinations": [d.to_dict()
                                                                   for d in moved.destinations]})
            assert await sidecar.apply_config(changed) == ("admin_port",)
            assert await client.get("/") == (200, "two")
            assert sidecar.stats()["outbound"]["accepted"] == accepted  # same connection
            assert sidecar.config.admin_port == 0


async def test_config_dump_shows_the_config_applied_by_a_hot_swap() -> None:
    async with running_apps("one", "two") as apps:
        first = sidecar_config([{"host": "catalog", "version": "v1"}], [_destination(apps)])
        async with running_sidecar(first) as sidecar, client_of(sidecar) as client:
            assert _versions(await _config_dump(sidecar)) == ["v1"]
            swapped = sidecar_config([{"host": "catalog", "version": "v2"}],
                                     [_destination(apps)])
            assert await sidecar.apply_config(swapped) == ()
            assert await client.get("/") == (200, "two")
            assert _versions(await _config_dump(sidecar)) == ["v2"]  # not the startup config


async def _config_dump(sidecar: Sidecar) -> dict[str, Any]:
    url = f"http://127.0.0.1:{sidecar.admin_port}/config_dump"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session, \
            session.get(url) as response:
        assert response.status == 200
        dumped: dict[str, Any] = await response.json()
    return dumped


def _versions(dumped: dict[str, Any]) -> list[str]:
    return [part["version"] for part in dumped["routes"][0]["split"]]
