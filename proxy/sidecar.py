"""The sidecar: admin, inbound and outbound listeners, pools and telemetry.

``Sidecar`` is the long-lived part (start/stop); ``run_sidecar`` runs one until
SIGTERM or SIGINT; ``serve`` is the blocking entry point that picks uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter

from proxy.accept import Listener
from proxy.admin import AdminServer
from proxy.config import SidecarConfig
from proxy.inbound import InboundHandler
from proxy.outbound import OutboundHandler
from proxy.route import RouteTable
from proxy.telemetry import Telemetry
from proxy.upstream_pool import UpstreamPool

log = logging.getLogger(__name__)


class Sidecar:
    """One service instance's proxy.

    ``span_exporter`` replaces the OTLP exporter (tests pass the SDK's
    InMemorySpanExporter). ``inbound_ssl`` and ``upstream_ssl`` are the transport
    security seams for mTLS: a server context for the inbound listener, a client
    context for connections to other sidecars.
    """

    def __init__(self, config: SidecarConfig, *, span_exporter: SpanExporter | None = None,
                 inbound_ssl: ssl.SSLContext | None = None,
                 upstream_ssl: ssl.SSLContext | None = None) -> None:
        self.config = config
        self._span_exporter = span_exporter
        self._inbound_ssl = inbound_ssl
        self._upstream_ssl = upstream_ssl
        self.telemetry: Telemetry | None = None
        self._admin: AdminServer | None = None
        self._inbound: Listener | None = None
        self._outbound: Listener | None = None
        self.app_pool: UpstreamPool | None = None
        self.mesh_pool: UpstreamPool | None = None

    @property
    def inbound_port(self) -> int:
        return self._inbound.port if self._inbound else 0

    @property
    def outbound_port(self) -> int:
        return self._outbound.port if self._outbound else 0

    @property
    def admin_port(self) -> int:
        return self._admin.port if self._admin else 0

    @property
    def ready(self) -> bool:
        return self._admin is not None and self._admin.ready

    async def start(self) -> None:
        if self._admin is not None:
            return
        config = self.config
        try:
            self.telemetry = Telemetry(config, self._span_exporter)
            self.app_pool = UpstreamPool()
            self.mesh_pool = UpstreamPool(ssl_context=self._upstream_ssl)
            self._admin = AdminServer(config, config.bind_host, config.admin_port, self.stats)
            await self._admin.start()
            inbound = InboundHandler(config, self.app_pool, self.telemetry)
            self._inbound = Listener("inbound", inbound, config.bind_host, config.inbound_port,
                                     ssl_context=self._inbound_ssl)
            await self._inbound.start()
            inbound.listen_port = self._inbound.port
            outbound = OutboundHandler(RouteTable(config.routes), self.mesh_pool, self.telemetry)
            self._outbound = Listener("outbound", outbound, config.bind_host,
                                      config.outbound_port)
            await self._outbound.start()
        except BaseException:
            await self.stop()
            raise
        self._admin.ready = True
        log.info("sidecar %s ready: inbound %d, outbound %d, admin %d", config.service,
                 self.inbound_port, self.outbound_port, self.admin_port)

    async def stop(self) -> None:
        """Close listeners and connections, then flush the span exporter."""
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.ready = False
        for listener in (self._inbound, self._outbound):
            if listener is not None:
                await listener.stop()
        self._inbound = self._outbound = None
        for pool in (self.app_pool, self.mesh_pool):
            if pool is not None:
                await pool.close()
        self.app_pool = self.mesh_pool = None
        if admin is not None:
            await admin.stop()
        telemetry, self.telemetry = self.telemetry, None
        if telemetry is not None:
            await asyncio.to_thread(telemetry.shutdown)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service": self.config.service}
        for name, listener in (("inbound", self._inbound), ("outbound", self._outbound)):
            if listener is not None:
                out[name] = {"accepted": listener.accepted, "rejected": listener.rejected,
                             "open": len(listener.connections)}
        for name, pool in (("app_pool", self.app_pool), ("mesh_pool", self.mesh_pool)):
            if pool is not None:
                out[name] = {"opened": pool.opened, "idle": pool.idle_count()}
        return out


async def run_sidecar(config: SidecarConfig, stop: asyncio.Event | None = None) -> None:
    """Run a sidecar until SIGTERM/SIGINT (or ``stop`` is set), then stop it cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    sidecar = Sidecar(config)
    try:
        await sidecar.start()
        await stop.wait()
    finally:
        await sidecar.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)


def serve(config: SidecarConfig) -> None:
    """Blocking entry point: run the sidecar on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(run_sidecar(config))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run_sidecar(config))
