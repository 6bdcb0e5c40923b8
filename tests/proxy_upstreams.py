"""Upstreams that misbehave on purpose, and a sidecar routing to them, for the
resilience functional tests (timeouts, retries, breakers, faults, mirrors)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proxy import Route, Sidecar, SidecarConfig
from proxy.resilience.config import RoutePolicy

CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class Upstream:
    """Counts what it gets; ``failures`` 503s first, then answers normally."""

    port: int = 0
    hits: list[tuple[float, str, str]] = field(default_factory=list)  # (time, method, path)
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    failures: int = 0
    delay: float = 0.0  # every answer waits this long (a slow mirror)

    def count(self, path: str) -> int:
        return sum(1 for _, _, p in self.hits if p == path)


@asynccontextmanager
async def running_upstream() -> AsyncIterator[Upstream]:
    state = Upstream()

    async def any_path(request: web.Request) -> web.StreamResponse:
        state.hits.append((time.monotonic(), request.method, request.path))
        body = await request.read()
        state.seen.append((dict(request.headers), body))
        if state.delay:
            await asyncio.sleep(state.delay)
        if request.path == "/slow":
            await asyncio.sleep(float(request.query.get("s", "1")))
        if request.path == "/drip":  # the head at once, the body slowly
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b"first;")
            await asyncio.sleep(float(request.query.get("s", "1")))
            await response.write(b"second")
            await response.write_eof()
            return response
        if request.path.startswith("/status/"):
            return web.Response(status=int(request.path.rsplit("/", 1)[1]), text="status")
        if request.path == "/flaky" and state.failures > 0:
            state.failures -= 1
            return web.Response(status=503, text="flaky")
        return web.Response(body=body or b"ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.port = runner.addresses[0][1]
    try:
        yield state
    finally:
        await runner.cleanup()


@dataclass
class Proxy:
    sidecar: Sidecar
    spans: InMemorySpanExporter

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.outbound_port}"

    async def finished_spans(self) -> tuple[ReadableSpan, ...]:
        """Stop the sidecar (which flushes its spans) and return them."""
        await self.sidecar.stop()
        return self.spans.get_finished_spans()


@asynccontextmanager
async def proxy_to(routes: dict[str, tuple[int, RoutePolicy]],
                   rng: random.Random | None = None) -> AsyncIterator[Proxy]:
    """A client-side sidecar whose routes (host -> (port, policy)) go to local upstreams."""
    config = SidecarConfig(
        service="frontend", version="v1", inbound_port=0, outbound_port=0, admin_port=0,
        app_port=9,
        routes=tuple(Route(host=host, service=host, endpoints=(f"127.0.0.1:{port}",),
                           policy=policy) for host, (port, policy) in routes.items()),
    )
    spans = InMemorySpanExporter()
    sidecar = Sidecar(config, span_exporter=spans, rng=rng)
    await sidecar.start()
    try:
        yield Proxy(sidecar, spans)
    finally:
        await sidecar.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


async def call(proxy: Proxy, path: str, host: str = "catalog", method: str = "GET",
               data: bytes | None = None) -> Answer:
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session, session.request(
        method, proxy.url + path, headers={"Host": host}, data=data
    ) as response:
        body = await response.read()
        return Answer(response.status, dict(response.headers), body,
                      time.monotonic() - started)


def events(spans: tuple[ReadableSpan, ...], name: str) -> list[dict[str, object]]:
    return [dict(e.attributes or {}) for s in spans for e in s.events if e.name == name]
