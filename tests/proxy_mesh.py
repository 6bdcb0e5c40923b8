"""A small real mesh for proxy functional tests: an aiohttp app behind a server-side
sidecar, called through a client-side sidecar's outbound listener."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proxy import Route, Sidecar, SidecarConfig

CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class App:
    port: int = 0
    seen: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Mesh:
    app: App
    client_side: Sidecar
    server_side: Sidecar
    client_spans: InMemorySpanExporter
    server_spans: InMemorySpanExporter

    @property
    def outbound_url(self) -> str:
        return f"http://127.0.0.1:{self.client_side.outbound_port}"


def sidecar_config(service: str, app_port: int, routes: tuple[Route, ...] = (),
                   **extra: Any) -> SidecarConfig:
    return SidecarConfig(service=service, version="v1", inbound_port=0, outbound_port=0,
                         admin_port=0, app_port=app_port, routes=routes, **extra)


@asynccontextmanager
async def running_app(extra_routes: list[web.RouteDef] | None = None) -> AsyncIterator[App]:
    state = App()

    async def status(request: web.Request) -> web.Response:
        state.seen.append(dict(request.headers))
        return web.Response(status=int(request.match_info["code"]), text="status")

    app = web.Application()
    app.router.add_get("/status/{code}", status)
    app.add_routes(extra_routes or [])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.port = runner.addresses[0][1]
    try:
        yield state
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running_mesh(app: App, **client_extra: Any) -> AsyncIterator[Mesh]:
    server_spans, client_spans = InMemorySpanExporter(), InMemorySpanExporter()
    server_side = Sidecar(sidecar_config("catalog", app.port), span_exporter=server_spans)
    await server_side.start()
    route = Route(host="catalog", service="catalog",
                  endpoints=(f"127.0.0.1:{server_side.inbound_port}",))
    client_side = Sidecar(sidecar_config("frontend", 9, (route,), **client_extra),
                          span_exporter=client_spans)
    try:
        await client_side.start()
        yield Mesh(app, client_side, server_side, client_spans, server_spans)
    finally:
        await client_side.stop()
        await server_side.stop()
