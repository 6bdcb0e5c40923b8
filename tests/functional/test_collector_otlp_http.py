"""OTLP/HTTP receiver over real sockets: the SDK's exporter, and every refusal.

After each refusal a valid request must still succeed: a bad client never breaks
the receiver for the next one.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import zlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from collector import Collector, CollectorConfig, SinkExporter

SPEC_EXAMPLE = (Path(__file__).parents[1] / "unit" / "otlp_data" / "trace.json").read_bytes()
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
MAX_BODY = 64 * 1024


def sdk_spans(service: str = "frontend") -> Sequence[ReadableSpan]:
    """A parent server span with a child client span, made by the OpenTelemetry SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.collector")
    with (
        tracer.start_as_current_span("GET /", kind=SpanKind.SERVER),
        tracer.start_as_current_span("GET /api", kind=SpanKind.CLIENT, attributes={"n": 1}),
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
        max_body_bytes=MAX_BODY,
        queue_spans=2,
        batch_spans=2,
        batch_timeout_s=0.01,
    )
    collector = Collector(config, sink)
    await collector.start()
    yield collector
    await collector.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def url(collector: Collector) -> str:
    return f"http://127.0.0.1:{collector.http_port}/v1/traces"


async def assert_still_serves(
    session: aiohttp.ClientSession, collector: Collector, sink: SinkExporter
) -> None:
    before = sink.span_count
    async with session.post(url(collector), data=SPEC_EXAMPLE, headers=JSON) as response:
        assert response.status == 200, await response.text()
    await sink.wait_for_spans(before + 1)


def json_status(body: bytes) -> dict[str, object]:
    status = json.loads(body)
    assert isinstance(status, dict)
    return status


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
async def test_sdk_exporter_delivers_spans_with_parent_links(
    collector: Collector, sink: SinkExporter, compression: Compression
) -> None:
    spans = sdk_spans()
    exporter = OTLPSpanExporter(endpoint=url(collector), compression=compression)
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
    assert columns.ServiceName == ["frontend", "frontend"]
    assert columns.SpanKind[child] == "Client"
    assert columns.SpanAttributes[child] == {"n": "1"}


async def test_json_answer_is_json(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession
) -> None:
    async with session.post(url(collector), data=SPEC_EXAMPLE, headers=JSON) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.read() == b"{}"
    columns = await sink.wait_for_spans(1)
    assert columns.TraceId == ["5b8efff798038103d269b633813fc60c"]


async def test_protobuf_answer_is_protobuf(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession
) -> None:
    body = encode_spans(sdk_spans()).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf; charset=binary"}
    async with session.post(url(collector), data=body, headers=headers) as response:
        assert response.status == 200
        assert response.content_type == "application/x-protobuf"
        assert await response.read() == b""  # an empty ExportTraceServiceResponse
    await sink.wait_for_spans(2)


async def test_gzip_json(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession
) -> None:
    headers = {**JSON, "Content-Encoding": "gzip"}
    async with session.post(url(collector), data=gzip.compress(SPEC_EXAMPLE), headers=headers) as r:
        assert r.status == 200
    await sink.wait_for_spans(1)


@pytest.mark.parametrize(
    ("body", "headers", "http_status", "message"),
    [
        (b'{"resourceSpans": [', JSON, 400, "invalid JSON at line 1 column 20"),
        (
            SPEC_EXAMPLE.replace(b"5B8EFFF798038103D269B633813FC60C", b"xyz"),
            JSON,
            400,
            "traceId must be 32 hex characters, got 'xyz' "
            "in resourceSpans[0].scopeSpans[0].spans[0]",
        ),
        (
            SPEC_EXAMPLE,
            {"Content-Type": "text/plain"},
            415,
            "unsupported Content-Type 'text/plain'",
        ),
        (
            SPEC_EXAMPLE,
            {**JSON, "Content-Encoding": "br"},
            415,
            "unsupported Content-Encoding 'br'",
        ),
        (b"\x00" * (MAX_BODY + 1), JSON, 413, f"request body is larger than {MAX_BODY} bytes"),
        (
            gzip.compress(b" " * (MAX_BODY + 1)),
            {**JSON, "Content-Encoding": "gzip"},
            413,
            f"decompressed request body is larger than {MAX_BODY} bytes",
        ),
        (
            gzip.compress(SPEC_EXAMPLE)[:-12],
            {**JSON, "Content-Encoding": "gzip"},
            400,
            "truncated gzip body",
        ),
        (SPEC_EXAMPLE, {**JSON, "Content-Encoding": "gzip"}, 400, "invalid gzip body"),
    ],
    ids=[
        "malformed-json",
        "bad-trace-id",
        "wrong-content-type",
        "wrong-encoding",
        "oversized",
        "gzip-over-limit",
        "truncated-gzip",
        "not-gzip",
    ],
)
async def test_refusals_in_json(
    collector: Collector,
    sink: SinkExporter,
    session: aiohttp.ClientSession,
    body: bytes,
    headers: dict[str, str],
    http_status: int,
    message: str,
) -> None:
    async with session.post(url(collector), data=body, headers=headers) as response:
        assert response.status == http_status
        assert response.content_type == "application/json"
        status = json_status(await response.read())
    assert message in str(status["message"])
    assert status["code"] == (8 if http_status == 413 else 3)
    await assert_still_serves(session, collector, sink)


async def test_truncated_protobuf_gets_a_protobuf_status(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession
) -> None:
    body = encode_spans(sdk_spans()).SerializeToString()[:-5]
    async with session.post(url(collector), data=body, headers=PROTOBUF) as response:
        assert response.status == 400
        assert response.content_type == "application/x-protobuf"
        status = status_pb2.Status.FromString(await response.read())
    assert status.code == 3
    assert status.message.startswith("invalid protobuf ExportTraceServiceRequest")
    await assert_still_serves(session, collector, sink)


async def test_gzip_bomb_is_refused_without_inflating_it(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession
) -> None:
    # 32 MiB of zeros in about 32 KiB: within the body limit, 500 times over it inflated.
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    bomb = b"".join(deflater.compress(block) for _ in range(32)) + deflater.flush()
    assert len(bomb) < MAX_BODY
    headers = {**PROTOBUF, "Content-Encoding": "gzip"}
    async with session.post(url(collector), data=bomb, headers=headers) as response:
        assert response.status == 413
        status = status_pb2.Status.FromString(await response.read())
    assert "decompressed request body is larger" in status.message
    await assert_still_serves(session, collector, sink)


async def test_chunked_body_over_the_limit(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * (MAX_BODY // 2)

    async with session.post(url(collector), data=chunks(), headers=JSON) as response:
        assert response.status == 413
    await assert_still_serves(session, collector, sink)


async def test_client_that_hangs_up_mid_body(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession
) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", collector.http_port)
    writer.write(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"resourceSpans"'
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await assert_still_serves(session, collector, sink)


async def test_full_queue_answers_429_with_retry_after(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession
) -> None:
    sink.pause()  # storage stalls: the queue (2 spans) fills up
    body = encode_spans(sdk_spans()).SerializeToString()
    async with session.post(url(collector), data=body, headers=PROTOBUF) as response:
        assert response.status == 200
    async with session.post(url(collector), data=body, headers=PROTOBUF) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"
        status = status_pb2.Status.FromString(await response.read())
    assert status.code == 8
    assert status.message == "queue is full"
    retry_info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry_info)
    assert retry_info.retry_delay.seconds == 1
    async with session.post(url(collector), data=SPEC_EXAMPLE, headers=JSON) as response:
        assert response.status == 429
        assert json_status(await response.read())["details"] == [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
        ]
    assert collector.stats.refused_spans == 3

    await sink.resume()
    await sink.wait_for_spans(2)
    await asyncio.sleep(0.05)  # the queue empties once the export returns
    await assert_still_serves(session, collector, sink)


async def test_other_methods_and_paths(
    collector: Collector, session: aiohttp.ClientSession
) -> None:
    async with session.get(url(collector)) as response:
        assert response.status == 405
    base = f"http://127.0.0.1:{collector.http_port}"
    async with session.post(f"{base}/v1/profiles", data=b"{}", headers=JSON) as response:
        assert response.status == 404


async def test_default_limit_is_16_mib(session: aiohttp.ClientSession) -> None:
    collector = Collector(CollectorConfig(http_port=0, grpc_port=0), SinkExporter())
    await collector.start()
    try:
        body = io.BytesIO(b" " * (16 * 1024 * 1024 + 1))
        async with session.post(url(collector), data=body, headers=JSON) as response:
            assert response.status == 413
        async with session.post(url(collector), data=SPEC_EXAMPLE, headers=JSON) as response:
            assert response.status == 200
    finally:
        await collector.stop()
