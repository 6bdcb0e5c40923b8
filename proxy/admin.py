"""Admin port (aiohttp, off the hot path): readiness, config and counters."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from proxy.config import SidecarConfig


class AdminServer:
    """``GET /ready`` (503 until the listeners are bound), ``/config_dump``, ``/stats``."""

    def __init__(self, config: SidecarConfig, host: str, port: int,
                 stats: Callable[[], dict[str, Any]]) -> None:
        self._config = config
        self._host, self._requested_port = host, port
        self._stats = stats
        self.ready = False
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/config_dump", self._config_dump)
        app.router.add_get("/stats", self._stats_handler)
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
        return web.json_response(self._config.to_dict())

    async def _stats_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self._stats())
