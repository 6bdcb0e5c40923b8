"""An aiohttp application on a host and port, with the one lifecycle every part has.

The OTLP/HTTP receiver and the admin server differ in their routes, not in how
they bind, report the bound port (port 0 picks a free one) or shut down.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiohttp import web


class HttpListener:
    def __init__(self, name: str, app: web.Application, *, host: str, port: int,
                 ssl_context: ssl.SSLContext | None = None, **runner_options: Any) -> None:
        self._name = name
        self._ssl_context = ssl_context
        self._app = app
        self._host = host
        self._port = port
        self._runner_options = runner_options
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError(f"{self._name} is not started")
        return self._bound_port

    async def start(self) -> None:
        if self._runner is not None:
            return
        runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, **self._runner_options
        )
        await runner.setup()
        try:
            await web.TCPSite(
                runner, self._host, self._port, ssl_context=self._ssl_context
            ).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        self._bound_port = None
        if runner is not None:
            await runner.cleanup()
