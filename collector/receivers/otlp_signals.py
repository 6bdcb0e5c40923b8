"""The three OTLP signals as both receivers serve them: where each is received, how
it is decoded, and the answer to a request that was (perhaps partly) accepted.

An answer is the signal's `Export*ServiceResponse`: empty when every item was
kept, with `partial_success` {rejected_<items>, error_message} when some were
left out as invalid (collector/translate/validation.py says which).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.translate import (
    Decoded,
    decode_logs_json,
    decode_logs_protobuf,
    decode_metrics_json,
    decode_metrics_protobuf,
    decode_traces_json,
    decode_traces_protobuf,
)

# Bodies this large are decoded in a worker thread so the loop keeps serving.
DECODE_IN_THREAD_BYTES = 1024 * 1024

Decoder = Callable[[bytes], Decoded[Any]]


@dataclass(frozen=True, slots=True)
class OtlpSignal:
    name: str
    http_path: str
    grpc_service: str
    item: str  # what one item is called in messages
    decode_protobuf: Decoder
    decode_json: Decoder
    response_type: type[Message]
    rejected_field: str  # the count's field in the response's partial_success

    def response(self, decoded: Decoded[Any]) -> Message:
        response = self.response_type()
        if decoded.rejected:
            partial = response.partial_success  # type: ignore[attr-defined]
            setattr(partial, self.rejected_field, decoded.rejected)
            partial.error_message = decoded.rejections.message(self.item)
        return response


TRACES = OtlpSignal(
    "traces", "/v1/traces", "opentelemetry.proto.collector.trace.v1.TraceService", "span",
    decode_traces_protobuf, decode_traces_json, ExportTraceServiceResponse, "rejected_spans",
)  # fmt: skip
METRICS = OtlpSignal(
    "metrics", "/v1/metrics", "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "data point", decode_metrics_protobuf, decode_metrics_json, ExportMetricsServiceResponse,
    "rejected_data_points",
)  # fmt: skip
LOGS = OtlpSignal(
    "logs", "/v1/logs", "opentelemetry.proto.collector.logs.v1.LogsService", "log record",
    decode_logs_protobuf, decode_logs_json, ExportLogsServiceResponse, "rejected_log_records",
)  # fmt: skip

SIGNALS: tuple[OtlpSignal, ...] = (TRACES, METRICS, LOGS)

QUEUE_FULL = "queue is full"


async def decode_body(decode: Decoder, body: bytes) -> Decoded[Any]:
    """`decode(body)`, in a worker thread when the body is large."""
    if len(body) >= DECODE_IN_THREAD_BYTES:
        return await asyncio.to_thread(decode, body)
    return decode(body)
