"""Metrics and logs on both receivers, and partial success on every signal, over real
sockets: the SDK's exporters, OTLP/JSON bodies, refusals with the field path, a
full queue answered 429 / RESOURCE_EXHAUSTED, and the counts on the admin port."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExportResult

from collector import Collector, CollectorConfig, SinkExporter
from tests.sdk_telemetry import sdk_logs, sdk_metrics

DATA = Path(__file__).parents[1] / "unit" / "otlp_data"
METRICS_JSON = (DATA / "metrics.json").read_bytes()  # 5 points, one of each type
LOGS_JSON = (DATA / "logs.json").read_bytes()  # 2 records
TRACE_JSON = (DATA / "trace.json").read_bytes()  # 1 span
JSON = {"Content-Type": "application/json"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


@pytest.fixture
async def sink() -> SinkExporter:
    return SinkExporter()


@pytest.fixture
async def collector(sink: SinkExporter) -> AsyncIterator[Collector]:
    config = CollectorConfig(
        http_port=0, grpc_port=0, admin_port=0, queue_spans=6, batch_spans=6,
        batch_timeout_s=0.01,
    )  # fmt: skip
    collector = Collector(config, sink)
    await collector.start()
    yield collector
    await collector.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def channel(collector: Collector) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        yield channel


def url(collector: Collector, signal: str) -> str:
    return f"http://127.0.0.1:{collector.http_port}/v1/{signal}"


async def post(
    session: aiohttp.ClientSession, collector: Collector, signal: str, body: bytes,
    headers: dict[str, str] = JSON,
) -> tuple[int, bytes, aiohttp.ClientResponse]:  # fmt: skip
    async with session.post(url(collector, signal), data=body, headers=headers) as response:
        return response.status, await response.read(), response


async def drained(collector: Collector) -> None:
    """Wait until the queue is empty: items count until their export has returned."""
    for _ in range(200):
        if collector._processor.queued_spans == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{collector._processor.queued_spans} items still queued")


def with_change(payload: bytes, change: Any) -> bytes:
    document = json.loads(payload)
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
async def test_sdk_exporters_deliver_metrics_and_logs_over_http(
    collector: Collector, sink: SinkExporter, compression: Compression
) -> None:
    metrics = OTLPMetricExporter(endpoint=url(collector, "metrics"), compression=compression)
    logs = OTLPLogExporter(endpoint=url(collector, "logs"), compression=compression)
    try:
        sent = sdk_logs("checkout")
        assert await asyncio.to_thread(metrics.export, sdk_metrics("checkout")) is (
            MetricExportResult.SUCCESS
        )
        points = await sink.wait_for_metric_points(5)
        await drained(collector)  # the queue holds 6 items
        assert await asyncio.to_thread(logs.export, sent.records) is (
            LogRecordExportResult.SUCCESS
        )
    finally:
        metrics.shutdown()
        logs.shutdown()
    assert sorted(points.sums.MetricName) == ["inflight", "requests"]
    records = await sink.wait_for_log_records(2)
    assert records.TraceId[0] == sent.trace_id
    assert collector.stats.accepted.metric_points == 5
    assert collector.stats.accepted.log_records == 2


async def test_json_bodies_answer_json(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession
) -> None:
    status, body, response = await post(session, collector, "metrics", METRICS_JSON)
    assert (status, body, response.content_type) == (200, b"{}", "application/json")
    assert len(await sink.wait_for_metric_points(5)) == 5
    await drained(collector)  # the queue holds 6 items
    gzipped = {**JSON, "Content-Encoding": "gzip"}
    status, body, _ = await post(session, collector, "logs", gzip.compress(LOGS_JSON), gzipped)
    assert (status, body) == (200, b"{}")
    assert (await sink.wait_for_log_records(2)).SeverityNumber == [10, 17]


@pytest.mark.parametrize(
    ("signal", "payload", "change", "field", "message"),
    [
        (
            "traces", TRACE_JSON,
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"].append(
                dict(d["resourceSpans"][0]["scopeSpans"][0]["spans"][0], traceId="abcd")
            ),
            "rejectedSpans",
            "traceId must be 32 hex characters, got 'abcd' "
            "in resourceSpans[0].scopeSpans[0].spans[1]",
        ),
        (
            "metrics", METRICS_JSON,
            lambda d: d["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][1]["gauge"].update(
                dataPoints=[]
            ),
            "rejectedDataPoints",
            "gauge.dataPoints of metric 'my.gauge' is empty "
            "in resourceMetrics[0].scopeMetrics[0].metrics[1]",
        ),
        (
            "logs", LOGS_JSON,
            lambda d: d["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0].update(spanId="ab"),
            "rejectedLogRecords",
            "spanId must be 8 bytes, got 1 bytes ('ab') "
            "in resourceLogs[0].scopeLogs[0].logRecords[0]",
        ),
    ],
    ids=["traces", "metrics", "logs"],
)
async def test_partial_success_over_http_json(
    collector: Collector, session: aiohttp.ClientSession,
    signal: str, payload: bytes, change: Any, field: str, message: str,
) -> None:  # fmt: skip
    status, body, _ = await post(session, collector, signal, with_change(payload, change))
    assert status == 200
    assert json.loads(body) == {"partialSuccess": {field: "1", "errorMessage": message}}
    unit = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}[signal]
    assert getattr(collector.stats.rejected, unit) == 1


async def test_partial_success_over_http_protobuf_and_grpc(
    collector: Collector, session: aiohttp.ClientSession, channel: grpc.aio.Channel
) -> None:
    request = encode_metrics(sdk_metrics("checkout"))
    request.resource_metrics[0].scope_metrics[0].metrics.add(name="empty")
    status, body, _ = await post(
        session, collector, "metrics", request.SerializeToString(), PROTOBUF
    )
    assert status == 200
    partial = ExportMetricsServiceResponse.FromString(body).partial_success
    assert partial.rejected_data_points == 1
    assert partial.error_message.startswith("metric 'empty' has no data of a known type")

    logs = encode_logs(sdk_logs("checkout").records)
    logs.resource_logs[0].scope_logs[0].log_records[1].trace_id = b"\x01\x02\x03"
    export = channel.unary_unary(
        LOGS_EXPORT, response_deserializer=ExportLogsServiceResponse.FromString
    )
    response = await export(logs.SerializeToString())
    assert response.partial_success.rejected_log_records == 1
    assert response.partial_success.error_message == (
        "traceId must be 16 bytes, got 3 bytes ('010203') "
        "in resourceLogs[0].scopeLogs[0].logRecords[1]"
    )


@pytest.mark.parametrize(
    ("signal", "body", "headers", "message"),
    [
        (
            "metrics",
            with_change(
                METRICS_JSON,
                lambda d: d["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][1]["gauge"][
                    "dataPoints"
                ][0].update(asDouble="warm"),
            ),
            JSON,
            "Couldn't parse float: warm "
            "in resourceMetrics[0].scopeMetrics[0].metrics[1].gauge.dataPoints[0].asDouble",
        ),
        ("logs", b'{"resourceLogs": 5}', JSON, "repeated field resourceLogs must be in []"),
        ("logs", b"\x0a\xff", PROTOBUF, "invalid protobuf ExportLogsServiceRequest"),
    ],
    ids=["metrics-json-field", "logs-json-shape", "logs-truncated-protobuf"],
)
async def test_unreadable_requests_are_400_naming_what_is_wrong(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession,
    signal: str, body: bytes, headers: dict[str, str], message: str,
) -> None:  # fmt: skip
    status, answer, _ = await post(session, collector, signal, body, headers)
    assert status == 400
    if headers is JSON:
        status_message = json.loads(answer)["message"]
    else:
        status_message = status_pb2.Status.FromString(answer).message
    assert message in status_message
    assert (await post(session, collector, signal, METRICS_JSON if signal == "metrics"
                       else LOGS_JSON))[0] == 200  # fmt: skip


async def test_unreadable_grpc_request_is_invalid_argument(channel: grpc.aio.Channel) -> None:
    export = channel.unary_unary(METRICS_EXPORT)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await export(b"\x0a\xff")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid protobuf ExportMetricsServiceRequest" in str(error.value.details())


async def test_full_queue_refuses_metrics_and_logs_with_retry_after(
    collector: Collector, sink: SinkExporter, session: aiohttp.ClientSession,
    channel: grpc.aio.Channel,
) -> None:  # fmt: skip
    sink.pause()  # storage stalls; the queue holds 6 items of any signal
    assert (await post(session, collector, "metrics", METRICS_JSON))[0] == 200  # 5 points
    status, body, response = await post(session, collector, "logs", LOGS_JSON)  # 2 more
    assert status == 429 and response.headers["Retry-After"] == "1"
    assert json.loads(body)["message"] == "queue is full"
    export = channel.unary_unary(METRICS_EXPORT)
    request = ExportMetricsServiceRequest()
    request.resource_metrics.add().scope_metrics.add().metrics.add(
        name="g"
    ).gauge.data_points.add(as_double=1.0)
    request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points.add(as_double=2.0)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await export(request.SerializeToString())
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert collector.stats.refused.log_records == 2
    assert collector.stats.refused.metric_points == 2

    await sink.resume()
    await sink.wait_for_metric_points(5)
    await drained(collector)
    assert (await post(session, collector, "logs", LOGS_JSON))[0] == 200
    await sink.wait_for_log_records(2)

    admin = f"http://127.0.0.1:{collector.admin_port}/metrics"
    async with session.get(admin) as response:
        text = await response.text()
    for line in (
        "meshlens_collector_accepted_metric_points_total 5",
        "meshlens_collector_refused_metric_points_total 2",
        "meshlens_collector_accepted_log_records_total 2",
        "meshlens_collector_refused_log_records_total 2",
        "meshlens_collector_exported_metric_points_total 5",
    ):
        assert line + "\n" in text
    assert "# HELP meshlens_collector_rejected_log_records_total Log records left out" in text
