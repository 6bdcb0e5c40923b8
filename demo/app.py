"""The demo services: frontend -> catalog -> inventory, each a small aiohttp app.

Each app calls the next through its own sidecar's outbound port with the
destination's name in ``Host``, and copies ``traceparent``/``tracestate`` from
the incoming request to the outgoing one, as Istio asks applications to do.
inventory also records its own database span around a real sqlite query.

    python -m demo.app --service catalog --port 8081 --outbound http://127.0.0.1:15001
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICES = ("frontend", "catalog", "inventory")
DOWNSTREAM = {"frontend": ("catalog", "/items"), "catalog": ("inventory", "/stock")}
STOCK_QUERY = "SELECT item, quantity FROM stock ORDER BY item"
_TRACE_HEADERS = ("traceparent", "tracestate")
_DEFAULT_ERROR_RATE = {"frontend": 0.0, "catalog": 0.01, "inventory": 0.02}

APP_CONFIG: web.AppKey[DemoAppConfig] = web.AppKey("config")
SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session")
RNG: web.AppKey[random.Random] = web.AppKey("rng")
TRACER: web.AppKey[trace.Tracer] = web.AppKey("tracer")
DB: web.AppKey[sqlite3.Connection] = web.AppKey("db")


@dataclass(frozen=True, slots=True)
class DemoAppConfig:
    service: str
    port: int
    outbound: str = "http://127.0.0.1:15001"
    host: str = "127.0.0.1"
    otlp_endpoint: str = "http://127.0.0.1:4318"
    error_rate: float | None = None  # None: the service's default
    latency_ms: tuple[float, float] = (2.0, 25.0)

    @property
    def effective_error_rate(self) -> float:
        if self.error_rate is not None:
            return self.error_rate
        return _DEFAULT_ERROR_RATE.get(self.service, 0.0)


def build_app(config: DemoAppConfig, *, rng: random.Random | None = None,
              span_exporter: SpanExporter | None = None) -> web.Application:
    """The aiohttp app for ``config.service``; ``span_exporter`` replaces OTLP (tests)."""
    if config.service not in SERVICES:
        raise ValueError(f"unknown demo service {config.service!r}, expected one of {SERVICES}")
    app = web.Application()
    app[APP_CONFIG] = config
    app[RNG] = rng or random.Random()
    app.cleanup_ctx.append(_client_session)
    if config.service == "inventory":
        app.cleanup_ctx.append(_database_and_tracer(span_exporter))
        app.router.add_get("/stock", _stock)
    elif config.service == "catalog":
        app.router.add_get("/items", _items)
    else:
        app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    return app


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    yield
    await app[SESSION].close()


def _database_and_tracer(exporter: SpanExporter | None) -> Any:
    async def context(app: web.Application) -> AsyncIterator[None]:
        config = app[APP_CONFIG]
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE stock (item TEXT PRIMARY KEY, quantity INTEGER)")
        db.executemany("INSERT INTO stock VALUES (?, ?)",
                       [("anchor", 12), ("compass", 3), ("lantern", 0), ("rope", 40)])
        app[DB] = db
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_exporter: SpanExporter = OTLPSpanExporter(
                endpoint=f"{config.otlp_endpoint.rstrip('/')}/v1/traces", timeout=5)
        else:
            span_exporter = exporter
        provider = TracerProvider(
            resource=Resource.create({"service.name": config.service,
                                      "service.version": "v1"}),
            shutdown_on_exit=False,
        )
        provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=1000))
        app[TRACER] = provider.get_tracer("meshlens.demo.inventory")
        yield
        db.close()
        await asyncio.to_thread(provider.shutdown)

    return context


def _trace_headers(request: web.Request) -> dict[str, str]:
    return {k: request.headers[k] for k in _TRACE_HEADERS if k in request.headers}


async def _work(request: web.Request) -> bool:
    """Some latency, and whether this request should fail."""
    config, rng = request.app[APP_CONFIG], request.app[RNG]
    low, high = config.latency_ms
    await asyncio.sleep(rng.uniform(low, high) / 1000)
    return rng.random() < config.effective_error_rate


async def _call_downstream(request: web.Request) -> tuple[int, Any]:
    config = request.app[APP_CONFIG]
    host, path = DOWNSTREAM[config.service]
    headers = {"Host": host, **_trace_headers(request)}
    try:
        async with request.app[SESSION].get(config.outbound.rstrip("/") + path,
                                            headers=headers) as response:
            if response.status != 200:
                return response.status, await response.text()
            return 200, await response.json()
    except aiohttp.ClientError as error:
        return 599, str(error)


async def _index(request: web.Request) -> web.Response:
    if await _work(request):
        return web.json_response({"error": "frontend failed"}, status=500)
    status, items = await _call_downstream(request)
    if status != 200:
        return web.json_response({"error": f"catalog answered {status}"}, status=502)
    return web.json_response({"service": "frontend", "items": items["items"]})


async def _items(request: web.Request) -> web.Response:
    if await _work(request):
        return web.json_response({"error": "catalog failed"}, status=500)
    status, stock = await _call_downstream(request)
    if status != 200:
        return web.json_response({"error": f"inventory answered {status}"}, status=502)
    items = [{"name": name, "in_stock": qty > 0, "quantity": qty}
             for name, qty in sorted(stock["stock"].items())]
    return web.json_response({"service": "catalog", "items": items})


async def _stock(request: web.Request) -> web.Response:
    parent = TraceContextTextMapPropagator().extract(carrier=dict(request.headers))
    span = request.app[TRACER].start_span(
        "SELECT stock", context=parent, kind=SpanKind.CLIENT,
        attributes={"db.system.name": "sqlite", "db.query.text": STOCK_QUERY,
                    "db.operation.name": "SELECT", "db.collection.name": "stock"},
    )
    failed = await _work(request)
    try:
        rows = request.app[DB].execute(STOCK_QUERY).fetchall()
        if failed:
            raise sqlite3.OperationalError("database is locked")
    except sqlite3.Error as error:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, str(error)))
        return web.json_response({"error": str(error)}, status=500)
    finally:
        span.end()
    return web.json_response({"service": "inventory", "stock": dict(rows)})


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def run_app(config: DemoAppConfig) -> None:
    """Serve until SIGTERM/SIGINT."""
    runner = web.AppRunner(build_app(config), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.app")
    parser.add_argument("--service", required=True, choices=SERVICES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--outbound", default="http://127.0.0.1:15001",
                        help="this app's sidecar outbound listener")
    parser.add_argument("--otlp-endpoint", default="http://127.0.0.1:4318")
    parser.add_argument("--error-rate", type=float, default=None)
    args = parser.parse_args(argv)
    asyncio.run(run_app(DemoAppConfig(service=args.service, port=args.port,
                                      outbound=args.outbound, otlp_endpoint=args.otlp_endpoint,
                                      error_rate=args.error_rate)))


if __name__ == "__main__":
    main()
