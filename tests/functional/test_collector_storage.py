"""The collector writing into real storage (chdb through the shared `chdb_store`).

Spans are sent by the OpenTelemetry SDK's own exporters, over gRPC and HTTP, and
read back with `Store.get_trace`: the trace, its parent links and attributes must
arrive as sent. Tests share one store, so each uses its own service name and ids.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from collector import ClickHouseExporter, Collector, CollectorConfig
from storage import SpanRecord, Store


def sdk_trace(service: str) -> tuple[str, Sequence[ReadableSpan]]:
    """A three-span trace (server -> client -> internal) and its trace id."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.version": "v2"})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.collector", "1.0")
    with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/cart")
        with tracer.start_as_current_span("SELECT carts", kind=SpanKind.CLIENT) as client:
            client.add_event("retry", {"attempt": 2})
            with tracer.start_as_current_span("decode") as internal:
                internal.set_status(StatusCode.ERROR, "bad row")
    provider.shutdown()
    return format(root.get_span_context().trace_id, "032x"), memory.get_finished_spans()


@pytest.fixture
async def collector(chdb_store: Store) -> AsyncIterator[Collector]:
    config = CollectorConfig(http_port=0, grpc_port=0, batch_timeout_s=0.02)
    collector = Collector(config, ClickHouseExporter(chdb_store))
    await collector.start()
    yield collector
    await collector.stop()


async def wait_for_trace(store: Store, trace_id: str, spans: int) -> list[SpanRecord]:
    for _ in range(200):
        records = await asyncio.to_thread(store.get_trace, trace_id)
        if len(records) >= spans:
            return records
        await asyncio.sleep(0.05)
    raise AssertionError(f"trace {trace_id} has {len(records)} of {spans} spans in storage")


def assert_stored_as_sent(
    records: list[SpanRecord], sent: Sequence[ReadableSpan], service: str
) -> None:
    by_name = {r.span_name: r for r in records}
    assert sorted(by_name) == ["GET /cart", "SELECT carts", "decode"]
    root, client, internal = by_name["GET /cart"], by_name["SELECT carts"], by_name["decode"]
    assert root.parent_span_id == ""
    assert client.parent_span_id == root.span_id
    assert internal.parent_span_id == client.span_id
    sent_ids = {s.name: s.context.span_id for s in sent if s.context is not None}
    assert root.span_id == format(sent_ids["GET /cart"], "016x")
    assert {r.service_name for r in records} == {service}
    assert (root.span_kind, client.span_kind, internal.span_kind) == (
        "Server",
        "Client",
        "Internal",
    )
    assert root.span_attributes == {"http.route": "/cart"}
    assert root.resource_attributes["service.version"] == "v2"
    assert root.scope_name == "tests.collector"
    assert internal.status_code == "Error"
    assert internal.status_message == "bad row"
    assert [e.name for e in client.events] == ["retry"]
    assert client.events[0].attributes == {"attempt": "2"}
    sent_root = next(s for s in sent if s.name == "GET /cart")
    assert sent_root.start_time is not None and sent_root.end_time is not None
    assert root.timestamp_ns == sent_root.start_time
    assert root.duration_ns == sent_root.end_time - sent_root.start_time


async def test_grpc_export_lands_in_storage(collector: Collector, chdb_store: Store) -> None:
    service = f"cart-grpc-{uuid.uuid4().hex[:8]}"
    trace_id, spans = sdk_trace(service)
    exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True)
    try:
        assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert_stored_as_sent(await wait_for_trace(chdb_store, trace_id, 3), spans, service)


async def test_http_export_lands_in_storage(collector: Collector, chdb_store: Store) -> None:
    service = f"cart-http-{uuid.uuid4().hex[:8]}"
    trace_id, spans = sdk_trace(service)
    exporter = HttpSpanExporter(endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces")
    try:
        assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert_stored_as_sent(await wait_for_trace(chdb_store, trace_id, 3), spans, service)


async def test_stop_drains_the_queue_into_storage(chdb_store: Store) -> None:
    # A batch timeout far beyond the test: only stop() can have written the spans.
    config = CollectorConfig(http_port=0, grpc_port=0, batch_timeout_s=3600)
    collector = Collector(config, ClickHouseExporter(chdb_store))
    await collector.start()
    service = f"cart-drain-{uuid.uuid4().hex[:8]}"
    trace_id, spans = sdk_trace(service)
    exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True)
    try:
        assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert await asyncio.to_thread(chdb_store.get_trace, trace_id) == []
    await collector.stop()
    records = await asyncio.to_thread(chdb_store.get_trace, trace_id)
    assert_stored_as_sent(records, spans, service)
