"""Overload: with the exporter stalled, a load several times what the queue holds gets
429 + Retry-After, the queue stays within its span and byte bounds, and once the
exporter moves again everything acknowledged arrives and new requests succeed.
Also the admin port's Prometheus text."""

from __future__ import annotations

import asyncio

import aiohttp

from collector import Collector, CollectorConfig, SinkExporter
from tests.otlp_payloads import encode_request
from tests.spans import make_span


def payload(spans: int) -> bytes:
    return encode_request([make_span(service_name="overload") for _ in range(spans)])


async def post(session: aiohttp.ClientSession, port: int, body: bytes) -> aiohttp.ClientResponse:
    async with session.post(
        f"http://127.0.0.1:{port}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
    ) as response:
        await response.read()
        return response


async def test_overload_is_refused_bounded_and_recovers() -> None:
    body = payload(50)
    sink = SinkExporter()
    config = CollectorConfig(
        http_port=0, grpc_port=0, admin_port=0, batch_spans=50, batch_timeout_s=0.01,
        queue_spans=100_000, queue_bytes=4 * len(body), span_metrics=False, service_graph=False,
    )  # fmt: skip
    collector = Collector(config, sink)
    await collector.start()
    try:
        sink.pause()
        statuses: list[int] = []
        async with aiohttp.ClientSession() as session:
            for _ in range(15):  # three times what the bytes bound lets in
                response = await post(session, collector.http_port, body)
                statuses.append(response.status)
                if response.status == 429:
                    assert response.headers["Retry-After"] == "1"
                assert collector._processor.queued_bytes <= 4 * len(body)
            accepted = statuses.count(200) * 50
            assert statuses.count(200) == 4 and statuses.count(429) == 11
            metrics = await (
                await session.get(f"http://127.0.0.1:{collector.admin_port}/metrics")
            ).text()
            assert "meshlens_collector_refused_spans_total 550" in metrics
            assert f"meshlens_collector_queue_spans {accepted}" in metrics

            await sink.resume()
            await sink.wait_for_spans(accepted)
            for _ in range(4):
                assert (await post(session, collector.http_port, body)).status == 200
            await sink.wait_for_spans(accepted + 200)
            await asyncio.sleep(0.05)
            metrics = await (
                await session.get(f"http://127.0.0.1:{collector.admin_port}/metrics")
            ).text()
    finally:
        await collector.stop()
    assert sink.span_count == accepted + 200
    assert "meshlens_collector_exported_spans_total 400" in metrics
    assert "# TYPE meshlens_collector_export_duration_seconds summary" in metrics
