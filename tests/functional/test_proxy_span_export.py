"""Span export runs on the event loop, a slice at a time, and posts without blocking it.

A thread that encodes holds the GIL for up to 5 ms whenever the loop wants it
back; these tests pin down that there is no such thread, that the loop keeps
turning while a batch is encoded, that a full batch does not wait for the
interval, and that the OTLP/HTTP client reuses its connection and survives the
collector closing it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from proxy.config import SidecarConfig
from proxy.otlp_http import OtlpHttpClient
from proxy.span_export import MAX_BATCH, SLICE_SPANS
from proxy.telemetry import Telemetry

RUN_ON_UVLOOP = True


@dataclass
class Collector:
    url: str = ""
    traces: list[bytes] = field(default_factory=list)
    peers: set[object] = field(default_factory=set)  # client connections seen
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def spans(self) -> int:
        return sum(len(ss.spans) for body in self.traces
                   for rs in ExportTraceServiceRequest.FromString(body).resource_spans
                   for ss in rs.scope_spans)


@asynccontextmanager
async def running_collector(keep_alive: bool = True) -> AsyncIterator[Collector]:
    state = Collector()

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        if request.path == "/v1/traces":
            state.traces.append(body)
        state.peers.add(request.transport.get_extra_info("peername")
                        if request.transport else None)
        state.arrived.set()
        response = web.Response(status=200)
        if not keep_alive:
            response.force_close()
        return response

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/metrics", traces)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


def telemetry_to(collector: Collector, interval: float = 60.0) -> Telemetry:
    config = SidecarConfig(service="s", version="v1", app_port=1, otlp_endpoint=collector.url)
    return Telemetry(config, export_interval=interval, metrics_interval=3600)


def finish_hops(telemetry: Telemetry, count: int) -> None:
    for i in range(count):
        hop = telemetry.start_hop("inbound", b"GET", f"/items/{i}", [],
                                  {"server.address": "s", "server.port": 80})
        hop.finish(200)


async def test_encoding_yields_to_the_loop_between_slices_and_uses_no_thread() -> None:
    async with running_collector() as collector:
        telemetry = telemetry_to(collector)
        await telemetry.start()
        try:
            assert not [t for t in threading.enumerate() if t.name == "meshlens-export"]
            finish_hops(telemetry, MAX_BATCH - 1)  # one short of a batch: no export yet
            turns = 0
            flushing = asyncio.ensure_future(telemetry.flush())
            while not flushing.done():
                turns += 1
                await asyncio.sleep(0)
            await flushing
        finally:
            await telemetry.stop()
    # the loop ran other work between every two slices of the batch
    assert turns >= (MAX_BATCH - 1) // SLICE_SPANS - 1
    assert collector.spans() == MAX_BATCH - 1


async def test_a_full_batch_is_exported_before_the_interval() -> None:
    async with running_collector() as collector:
        telemetry = telemetry_to(collector, interval=3600)
        await telemetry.start()
        try:
            finish_hops(telemetry, MAX_BATCH)
            await asyncio.wait_for(collector.arrived.wait(), 10)
            assert collector.spans() == MAX_BATCH
        finally:
            await telemetry.stop()


async def test_force_flush_from_another_thread_runs_the_flush_on_the_loop() -> None:
    async with running_collector() as collector:
        telemetry = telemetry_to(collector, interval=3600)
        await telemetry.start()
        try:
            finish_hops(telemetry, 3)
            assert await asyncio.to_thread(telemetry.force_flush) is True
            assert collector.spans() == 3
        finally:
            await telemetry.stop()


async def test_export_stops_safely_before_start_and_twice_and_restarts() -> None:
    async with running_collector() as collector:
        telemetry = telemetry_to(collector, interval=3600)
        await telemetry.stop()  # before start: nothing to do
        for round_ in (1, 2):  # start -> stop -> start -> stop
            await telemetry.start()
            finish_hops(telemetry, 2)
            await telemetry.stop()  # pushes what is queued
            await telemetry.stop()
            assert collector.spans() == 2 * round_


async def test_client_keeps_its_connection_and_reconnects_when_the_collector_closes() -> None:
    async with running_collector() as collector:
        client = OtlpHttpClient(collector.url + "/")
        try:
            for _ in range(3):
                assert await client.post("/v1/traces", b"") == 200
        finally:
            await client.close()
        assert len(collector.traces) == 3 and len(collector.peers) == 1  # kept alive
    async with running_collector(keep_alive=False) as collector:
        client = OtlpHttpClient(collector.url)
        try:
            for _ in range(3):
                assert await client.post("/v1/traces", b"") == 200
        finally:
            await client.close()
        assert len(collector.traces) == 3 and len(collector.peers) == 3
