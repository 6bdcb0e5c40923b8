"""OTLP/gRPC receiver over real sockets: the SDK's exporter, and every refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from collector import Collector, CollectorConfig, SinkExporter

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MAX_MESSAGE = 64 * 1024


def sdk_spans(service: str = "frontend") -> Sequence[ReadableSpan]:
    """A parent server span with a child client span, made by the OpenTelemetry SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.collector")
    with (
        tracer.start_as_current_span("GET /", kind=SpanKind.SERVER),
        tracer.start_as_current_span("GET /api", kind=SpanKind.CLIENT),
    ):
        pass
    provider.shutdown()
    return memory.get_finished_spans()


@pytest.fixture
async def sink() -> SinkExporter:
    return SinkExporter()


@pytest.fixture
async def collector(sink: SinkExporter) -> AsyncIterator[Collector]:
    config = CollectorConfig(
        http_port=0,
        grpc_port=0,
        max_body_bytes=MAX_MESSAGE,
        queue_spans=2,
        batch_spans=2,
        batch_timeout_s=0.01,
    )
    collector = Collector(config, sink)
    await collector.start()
    yield collector
    await collector.stop()


@pytest.fixture
async def export(
    collector: Collector,
) -> AsyncIterator[grpc.aio.UnaryUnaryMultiCallable]:
    """The Export method, sending raw bytes (so tests can send broken ones)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        yield channel.unary_unary(
            EXPORT, response_deserializer=ExportTraceServiceResponse.FromString
        )


def request_bytes() -> bytes:
    return encode_spans(sdk_spans()).SerializeToString()


async def assert_still_serves(export: grpc.aio.UnaryUnaryMultiCallable, sink: SinkExporter) -> None:
    before = sink.span_count
    assert await export(request_bytes()) == ExportTraceServiceResponse()
    await sink.wait_for_spans(before + 2)


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
async def test_sdk_exporter_delivers_spans_with_parent_links(
    collector: Collector, sink: SinkExporter, compression: grpc.Compression
) -> None:
    spans = sdk_spans()
    exporter = OTLPSpanExporter(
        endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True, compression=compression
    )
    try:
        # The SDK exporter blocks; the collector runs on this loop.
        assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()

    columns = await sink.wait_for_spans(2)
    row = {name: i for i, name in enumerate(columns.SpanName)}
    parent, child = row["GET /"], row["GET /api"]
    parent_context = spans[1].context
    assert parent_context is not None
    assert columns.SpanId[parent] == format(parent_context.span_id, "016x")
    assert columns.ParentSpanId[child] == columns.SpanId[parent]
    assert columns.TraceId[child] == columns.TraceId[parent]
    assert columns.SpanKind[parent] == "Server"


async def test_truncated_request_is_invalid_argument(
    export: grpc.aio.UnaryUnaryMultiCallable, sink: SinkExporter
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await export(request_bytes()[:-5])
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid protobuf ExportTraceServiceRequest" in str(error.value.details())
    await assert_still_serves(export, sink)


async def test_bad_span_is_a_partial_success_naming_the_field(
    collector: Collector, export: grpc.aio.UnaryUnaryMultiCallable, sink: SinkExporter
) -> None:
    request = ExportTraceServiceRequest.FromString(request_bytes())
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[1].trace_id = b"\x01\x02"
    response = await export(request.SerializeToString())
    assert response.partial_success.rejected_spans == 1
    assert response.partial_success.error_message == (
        "traceId must be 16 bytes, got 2 bytes ('0102') in resourceSpans[0].scopeSpans[0].spans[1]"
    )
    kept = await sink.wait_for_spans(1)
    assert kept.SpanId == [spans[0].span_id.hex()]
    assert collector.stats.rejected.spans == 1 and collector.stats.accepted_spans == 1
    await assert_still_serves(export, sink)


async def test_oversized_message_is_refused(
    export: grpc.aio.UnaryUnaryMultiCallable, sink: SinkExporter
) -> None:
    request = ExportTraceServiceRequest.FromString(request_bytes())
    request.resource_spans[0].scope_spans[0].spans[0].name = "x" * (MAX_MESSAGE + 1)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await export(request.SerializeToString())
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await assert_still_serves(export, sink)


async def test_full_queue_is_resource_exhausted_with_retry_info(
    collector: Collector, export: grpc.aio.UnaryUnaryMultiCallable, sink: SinkExporter
) -> None:
    sink.pause()  # storage stalls: the queue (2 spans) fills up
    await export(request_bytes())
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await export(request_bytes())
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.value.details() == "queue is full; retry later"
    trailers = dict(error.value.trailing_metadata() or ())
    # What opentelemetry-python's exporter reads...
    retry_info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert retry_info.retry_delay.seconds == 1
    # ...and the standard rich error model other clients read.
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert status.details[0].Unpack(error_details_pb2.RetryInfo())
    assert collector.stats.refused_spans == 2

    await sink.resume()
    await sink.wait_for_spans(2)
    await asyncio.sleep(0.05)  # the queue empties once the export returns
    await assert_still_serves(export, sink)


async def test_unknown_method_is_unimplemented(collector: Collector) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        call = channel.unary_unary(
            "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
        )
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call(b"")
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
