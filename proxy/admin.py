"""Admin port (aiohttp, off the hot path): readiness, metrics, config and clusters.

- ``/ready``: 503 until the listeners are bound, then 200.
- ``/metrics``: Prometheus text of the RED metrics and the proxy's own counters.
- ``/config_dump``: the config in force as JSON (read per request: a hot swap
  with ``Sidecar.apply_config`` shows at once).
- ``/clusters``: every route's destination, its endpoints and their health, as the
  route table describes them (``describe()``), as JSON.
- ``/stats``: listener and pool counters as JSON.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from proxy.config import SidecarConfig
from proxy.metrics.prometheus import CONTENT_TYPE

JsonSource = Callable[[], Any]
ConfigSource = Callable[[], SidecarConfig]


class AdminServer:
    """``config`` is the config itself or, for a sidecar whose config changes, a
    callable that returns the one in force."""

    def __init__(self, config: SidecarConfig | ConfigSource, host: str, port: int,
                 stats: JsonSource, metrics: Callable[[], str] | None = None,
                 clusters: JsonSource | None = None) -> None:
        self._config: ConfigSource = (
            (lambda: config) if isinstance(config, SidecarConfig) else config)
        self._host, self._requested_port = host, port
        self._stats = stats
        self._metrics = metrics
        self._clusters = clusters
        self.ready = False
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/config_dump", self._config_dump)
        app.router.add_get("/stats", self._stats_handler)
        app.router.add_get("/metrics", self._metrics_handler)
        app.router.add_get("/clusters", self._clusters_handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            # Bound here rather than by aiohttp so that port 0 reports the real port.
            sock = socket.create_server((self._host, self._requested_port))
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        self.ready = False
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _ready(self, request: web.Request) -> web.Response:
        if self.ready:
            return web.Response(text="ready")
        return web.Response(status=503, text="not ready")

    async def _config_dump(self, request: web.Request) -> web.Response:
        return web.json_response(self._config().to_dict())

    async def _stats_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self._stats())

    async def _metrics_handler(self, request: web.Request) -> web.Response:
        text = self._metrics() if self._metrics is not None else ""
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    async def _clusters_handler(self, request: web.Request) -> web.Response:
        return web.json_response({"clusters": self._clusters() if self._clusters else []})


def describe_clusters(routes: object, config: SidecarConfig) -> list[dict[str, Any]]:
    """The route table's own ``describe()`` (destinations, endpoints with health),
    else the configured routes with their endpoints' health unknown (``None``)."""
    describe = getattr(routes, "describe", None)
    if callable(describe):
        described = describe()
        return list(described) if not isinstance(described, dict) else [described]
    return [{"service": route.service,
             "endpoints": [{"address": str(e), "healthy": None, "ejected": False}
                           for e in route.parsed_endpoints()]}
            for route in config.routes]
