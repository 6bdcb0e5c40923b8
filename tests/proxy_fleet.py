"""Several small upstream apps (versions of one service) and a sidecar routing to
them, for the routing, balancing and health functional tests."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proxy import Sidecar, SidecarConfig
from proxy.clock import Clock

CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class App:
    """Answers ``name`` in the body; ``status`` and ``delay`` can change at any time."""

    name: str
    port: int = 0
    status: int = 200
    healthy: bool = True  # what /healthz says
    delay: float = 0.0
    hits: int = 0
    health_checks: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    seen: list[dict[str, str]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@asynccontextmanager
async def running_app(name: str, delay: float = 0.0) -> AsyncIterator[App]:
    state = App(name, delay=delay)

    async def health(request: web.Request) -> web.Response:
        state.health_checks += 1
        return web.Response(status=200 if state.healthy else 503, text="health")

    async def any_path(request: web.Request) -> web.Response:
        state.hits += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        state.seen.append(dict(request.headers))
        try:
            if state.delay:
                await asyncio.sleep(state.delay)
            return web.Response(status=state.status, text=state.name)
        finally:
            state.in_flight -= 1

    app = web.Application()
    app.router.add_get("/healthz", health)
    app.router.add_route("*", "/{tail:.*}", any_path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.port = runner.addresses[0][1]
    try:
        yield state
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running_apps(*names: str, delays: dict[str, float] | None = None
                       ) -> AsyncIterator[dict[str, App]]:
    async with AsyncExitStack() as stack:
        apps = {n: await stack.enter_async_context(running_app(n, (delays or {}).get(n, 0.0)))
                for n in names}
        yield apps


async def closed_port() -> int:
    """A port on which nothing listens (for a dead endpoint)."""
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    return port


def sidecar_config(routes: list[dict[str, Any]], destinations: list[dict[str, Any]]
                   ) -> SidecarConfig:
    return SidecarConfig.from_mapping({
        "service": "frontend", "version": "v1", "app_port": 9, "inbound_port": 0,
        "outbound_port": 0, "admin_port": 0, "routes": routes, "destinations": destinations,
    })


@asynccontextmanager
async def running_sidecar(config: SidecarConfig, clock: Clock | None = None,
                          rng: random.Random | None = None) -> AsyncIterator[Sidecar]:
    sidecar = Sidecar(config, span_exporter=InMemorySpanExporter(), clock=clock, rng=rng)
    await sidecar.start()
    try:
        yield sidecar
    finally:
        await sidecar.stop()


class Client:
    """Requests through a sidecar's outbound port on one keep-alive session."""

    def __init__(self, sidecar: Sidecar, host: str = "catalog") -> None:
        self.url = f"http://127.0.0.1:{sidecar.outbound_port}"
        self.host = host
        self.session = aiohttp.ClientSession(timeout=CLIENT_TIMEOUT)

    async def get(self, path: str = "/", method: str = "GET",
                  headers: dict[str, str] | None = None) -> tuple[int, str]:
        async with self.session.request(method, self.url + path,
                                        headers={"Host": self.host, **(headers or {})}
                                        ) as response:
            return response.status, await response.text()

    async def tally(self, count: int, path: str = "/", concurrency: int = 1,
                    headers: dict[str, str] | None = None) -> Counter[str]:
        """Send ``count`` requests, ``concurrency`` at a time; answers by body
        (the app's name) for 200s, by ``status:<code>`` otherwise."""
        answers: Counter[str] = Counter()
        remaining = iter(range(count))

        async def worker() -> None:
            for _ in remaining:
                status, body = await self.get(path, headers=headers)
                answers[body if status == 200 else f"status:{status}"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return answers

    async def close(self) -> None:
        await self.session.close()


@asynccontextmanager
async def client_of(sidecar: Sidecar, host: str = "catalog") -> AsyncIterator[Client]:
    client = Client(sidecar, host)
    try:
        yield client
    finally:
        await client.close()


def labeled(apps: Iterable[App], versions: dict[str, str]) -> list[dict[str, Any]]:
    """Endpoint entries: each app's address with its version label."""
    return [{"address": a.address, "labels": {"version": versions[a.name]}} for a in apps]
