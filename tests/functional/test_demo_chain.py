"""The demo mesh in one process: three apps, three sidecars, one request through."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from demo.app import SERVICES, DemoAppConfig, build_app
from demo.loadgen import generate_load
from demo.topology import DemoPorts, write_demo_topology
from proxy import Sidecar, load_sidecar_config


class DemoMesh:
    def __init__(self) -> None:
        self.url = ""
        self.exporters: dict[str, InMemorySpanExporter] = {}
        self.runners: list[web.AppRunner] = []
        self.sidecars: list[Sidecar] = []

    async def shutdown(self) -> None:
        """Stop everything; stopping flushes the spans into the exporters."""
        for sidecar in self.sidecars:
            await sidecar.stop()
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()


@pytest.fixture
async def demo_mesh(tmp_path: Path) -> AsyncIterator[DemoMesh]:
    mesh = DemoMesh()
    ports = DemoPorts.pick_free()
    topology = write_demo_topology(tmp_path, ports, "http://127.0.0.1:9")
    exporters = {name: InMemorySpanExporter() for name in (*SERVICES, "inventory-app")}
    mesh.url, mesh.exporters = topology.frontend_url, exporters
    runners, sidecars = mesh.runners, mesh.sidecars
    try:
        for service in SERVICES:
            own = ports.of(service)
            config = DemoAppConfig(service=service, port=own.app, error_rate=0.0,
                                   outbound=f"http://127.0.0.1:{own.outbound}",
                                   latency_ms=(0.0, 1.0))
            app = build_app(config, rng=random.Random(7),
                            span_exporter=exporters["inventory-app"])
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", own.app).start()
        for service in SERVICES:
            sidecar = Sidecar(load_sidecar_config(topology.config_paths[service]),
                              span_exporter=exporters[service])
            sidecars.append(sidecar)
            await sidecar.start()
        yield mesh
    finally:
        await mesh.shutdown()


async def test_frontend_answers_through_the_chain(demo_mesh: DemoMesh) -> None:
    url = demo_mesh.url
    async with aiohttp.ClientSession() as session, session.get(
            url, headers={"Host": "frontend"}) as response:
        assert response.status == 200
        body = await response.json()
    assert body["service"] == "frontend"
    assert {item["name"] for item in body["items"]} >= {"anchor", "rope"}
    stats = await generate_load(url, rate=50, count=5)
    assert stats.sent == 5 and stats.ok == 5


async def test_inventory_db_span_is_in_the_same_trace(demo_mesh: DemoMesh) -> None:
    async with aiohttp.ClientSession() as session, session.get(
            demo_mesh.url, headers={"Host": "frontend"}) as response:
        assert response.status == 200
    await demo_mesh.shutdown()
    spans = {name: list(e.get_finished_spans()) for name, e in demo_mesh.exporters.items()}
    assert all(spans.values()), {k: len(v) for k, v in spans.items()}
    (db_span,) = spans["inventory-app"]
    assert db_span.name == "SELECT stock" and db_span.kind is SpanKind.CLIENT
    assert db_span.attributes is not None
    assert db_span.attributes["db.system.name"] == "sqlite"
    assert db_span.resource.attributes["service.name"] == "inventory"
    root = [s for s in spans["frontend"] if s.parent is None]
    assert len(root) == 1 and root[0].kind is SpanKind.SERVER
    inventory_server = [s for s in spans["inventory"] if s.kind is SpanKind.SERVER]
    assert db_span.context.trace_id == root[0].context.trace_id
    assert db_span.parent is not None
    assert db_span.parent.span_id == inventory_server[0].context.span_id
