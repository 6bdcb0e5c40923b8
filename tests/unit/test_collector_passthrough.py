"""The passthrough of OTLP protobuf trace requests, without storage: which requests pass
through, that the facts read from them equal those of the decoded spans, how their
batches split and merge, the spool, and the SQL sent to a ClickHouse server."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from collector import ExportBatch, OtlpDecodeError, decode_protobuf
from collector.exporters.spool import decode_batch, encode_batch
from collector.pipeline import SignalBatch
from collector.processors.batch import BatchProcessor
from collector.processors.span_facts import facts_from_columns
from collector.translate import decode_traces_protobuf
from collector.translate.otlp_passthrough import decode_passthrough, decode_traces_passthrough
from collector.translate.passthrough_batch import PassthroughSpans
from storage import otlp_traces_writer
from storage.model import SpanColumns
from tests.passthrough_payloads import (
    every_conversion_request,
    mesh_request,
    oneof_given_twice_request,
)

SERVICES = ("web", "cart", "stock")


def passed(payload: bytes) -> PassthroughSpans:
    batch = decode_passthrough(payload)
    assert batch is not None
    return batch


@pytest.mark.parametrize(
    "payload",
    [mesh_request(SERVICES, 20), every_conversion_request("conv"), oneof_given_twice_request("x")],
    ids=["mesh", "every_conversion", "oneof_given_twice"],
)
def test_facts_read_from_the_bytes_equal_those_of_the_decoded_spans(payload: bytes) -> None:
    batch = passed(payload)
    decoded = decode_protobuf(payload)
    assert len(batch) == len(decoded)
    assert list(batch.all_facts()) == facts_from_columns(decoded)
    assert batch.payloads == [payload]


def with_value(where: str, value: AnyValue) -> bytes:
    request = ExportTraceServiceRequest.FromString(mesh_request(SERVICES, 2))
    span = request.resource_spans[1].scope_spans[0].spans[1]
    key_values = {
        "resource": request.resource_spans[2].resource.attributes,
        "span": span.attributes,
        "event": span.events.add(time_unix_nano=span.start_time_unix_nano).attributes,
        "link": span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8).attributes,
    }[where]
    key_values.append(KeyValue(key="odd", value=value))
    return request.SerializeToString()


@pytest.mark.parametrize("where", ["resource", "span", "event", "link"])
@pytest.mark.parametrize(
    "value",
    [AnyValue(double_value=0.0), AnyValue(double_value=1.5), AnyValue(array_value=ArrayValue()),
     AnyValue(kvlist_value=KeyValueList()), AnyValue(string_value_strindex=3)],
    ids=["double_zero", "double", "array", "kvlist", "strindex"],
)  # fmt: skip
def test_values_clickhouse_does_not_convert_send_the_request_to_the_python_path(
    where: str, value: AnyValue
) -> None:
    payload = with_value(where, value)
    assert decode_passthrough(payload) is None
    decoded = decode_traces_passthrough(payload)
    assert isinstance(decoded.batch, SpanColumns)
    assert decoded.batch == decode_traces_protobuf(payload).batch


def test_invalid_spans_are_rejected_by_the_full_decoder() -> None:
    request = ExportTraceServiceRequest.FromString(mesh_request(SERVICES, 2))
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01" * 7
    spans = request.resource_spans[1].scope_spans[0].spans
    spans[0].links.add(trace_id=bytes(16), span_id=b"\x01" * 8)  # an all-zero trace id
    payload = request.SerializeToString()
    assert decode_passthrough(payload) is None
    decoded, full = decode_traces_passthrough(payload), decode_traces_protobuf(payload)
    assert decoded.rejected == full.rejected == 2
    assert decoded.rejections.message("span") == full.rejections.message("span")
    assert decoded.batch == full.batch


def test_a_request_that_does_not_parse_is_refused_as_before() -> None:
    with pytest.raises(OtlpDecodeError) as passthrough:
        decode_traces_passthrough(b"\x0a\xff\xff")
    with pytest.raises(OtlpDecodeError) as full:
        decode_traces_protobuf(b"\x0a\xff\xff")
    assert str(passthrough.value) == str(full.value)


def batch_of(*spans_per_request: int) -> PassthroughSpans:
    batch = PassthroughSpans()
    for i, spans in enumerate(spans_per_request):
        batch.extend(PassthroughSpans([bytes([i])], [spans], [[]], spans))
    return batch


def test_batches_split_between_requests_only() -> None:
    head, tail = batch_of(3, 4, 5).split(7)
    assert (head.payloads, len(head), tail.payloads, len(tail)) == ([b"\0", b"\1"], 7, [b"\2"], 5)
    head, tail = batch_of(3, 4, 5).split(6)
    assert (len(head), len(tail)) == (3, 9)
    head, tail = batch_of(10, 4).split(5)  # a request larger than the limit goes whole
    assert (len(head), len(tail)) == (10, 4)
    head, tail = batch_of(10).split(5)
    assert (len(head), len(tail), tail.payloads) == (10, 0, [])


class Recorder:
    def __init__(self) -> None:
        self.batches: list[SignalBatch] = []

    async def push(self, batch: SignalBatch) -> None:
        self.batches.append(batch)


async def test_the_batch_processor_keeps_passthrough_and_decoded_spans_apart() -> None:
    recorder = Recorder()
    processor = BatchProcessor(recorder, batch_spans=8, batch_timeout_s=0.05)
    await processor.start()
    try:
        decoded = decode_protobuf(mesh_request(SERVICES, 1))  # 5 spans
        assert processor.try_put(batch_of(3), 10)
        assert processor.try_put(decoded, 10)
        # Merged with the first up to the batch size, and one request past it at most:
        # requests are never cut.
        assert processor.try_put(batch_of(4, 20), 10)
        for _ in range(100):
            if processor.stats.exported.spans == 32:
                break
            await asyncio.sleep(0.02)
    finally:
        await processor.stop()
    kinds = sorted((type(b).__name__, len(b)) for b in recorder.batches)
    assert kinds == [("PassthroughSpans", 27), ("SpanColumns", 5)]
    assert processor.stats.accepted.spans == processor.stats.exported.spans == 32


def test_the_spool_keeps_the_requests() -> None:
    batch = ExportBatch(otlp=[b"\x0a\x00", b"\xff" * 300], otlp_spans=7)
    again = decode_batch(encode_batch(batch))
    assert (again.otlp, again.otlp_spans, again.token) == (batch.otlp, 7, batch.token)
    assert len(again) == 7 and again.counts().spans == 7


class RecordingClient:
    """Stands for a clickhouse-connect client of a ClickHouse server."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, Any, dict[str, Any]]] = []

    def command(self, sql: str, data: Any = None, settings: dict[str, Any] | None = None) -> None:
        self.commands.append((sql, data, settings or {}))


def test_a_clickhouse_server_gets_the_requests_in_the_body_of_one_insert() -> None:
    client: Any = RecordingClient()
    payloads = [b"\x0a\x00", b"x" * 200]
    otlp_traces_writer.insert_otlp_traces(client, "meshlens", payloads, "tok", local_files=False)
    [(sql, data, settings)] = client.commands
    assert sql.startswith("INSERT INTO `meshlens`.otel_traces (`Timestamp`, `TraceId`,")
    assert "FROM input('resource_spans Array(Tuple(resource Tuple(attributes Array(" in sql
    assert "Enum8(\\'none\\' = 0, \\'string_value\\' = 1," in sql  # quoted in the SQL string
    assert sql.endswith("\nFORMAT Protobuf")
    assert data == b"\x02\x0a\x00" + b"\xc8\x01" + b"x" * 200  # each after its varint size
    assert settings["insert_deduplication_token"] == "tok"
    assert settings["format_schema"] == otlp_traces_writer.SCHEMA
    assert settings["format_schema_source"] == "string"
    assert settings["format_schema_message_name"] == "ExportTraceServiceRequest"
    assert settings["input_format_protobuf_oneof_presence"] == 1


def test_chdb_reads_the_requests_from_a_file_it_is_given_and_that_is_removed() -> None:
    client: Any = RecordingClient()
    otlp_traces_writer.insert_otlp_traces(
        client, "meshlens", [b"\x0a\x00"], "tok", local_files=True
    )
    [(sql, data, settings)] = client.commands
    assert data is None and settings == {}  # settings inline: no SET round trips on chdb
    assert " SETTINGS insert_deduplication_token = 'tok', " in sql
    path = sql.split("FROM file('", 1)[1].split("'", 1)[0]
    assert path.endswith(".pb")
    assert not os.path.exists(path)


def server_and_client(attributes: list[KeyValue]) -> bytes:
    request = ExportTraceServiceRequest.FromString(mesh_request(SERVICES[:2], 1))
    for span in request.resource_spans[0].scope_spans[0].spans:  # web: a server, a client
        del span.attributes[:]
        span.attributes.extend(attributes)
    return request.SerializeToString()


def value(**kind: object) -> AnyValue:
    return AnyValue(**kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "attributes",
    [
        [],
        [KeyValue(key="http.response.status_code", value=value(int_value=0))],
        [KeyValue(key="http.response.status_code", value=value(int_value=-5))],
        [KeyValue(key="http.response.status_code", value=value(string_value=""))],
        [KeyValue(key="http.response.status_code", value=value(string_value="")),
         KeyValue(key="http.status_code", value=value(int_value=404))],
        [KeyValue(key="http.response.status_code", value=value(bool_value=True))],
        [KeyValue(key="http.response.status_code", value=value(bytes_value=b"\x01"))],
        [KeyValue(key="http.response.status_code")],  # no value at all
        [KeyValue(key="http.status_code", value=value(string_value="503"))],
        [KeyValue(key="db.system", value=value(string_value="")),
         KeyValue(key="peer.service", value=value(string_value="api"))],
        [KeyValue(key="db.system.name", value=value(int_value=0)),
         KeyValue(key="server.address", value=value(string_value="h"))],
        [KeyValue(key="server.address", value=value(bool_value=False))],
        [KeyValue(key="peer.service", value=value(string_value="a")),
         KeyValue(key="peer.service", value=value(string_value=""))],  # the last one counts
    ],
    ids=["none", "int_0", "int_negative", "empty", "fallback_key", "bool", "bytes", "unset",
         "old_key", "db_empty", "db_int", "host_bool", "key_twice"],
)  # fmt: skip
def test_status_class_and_peer_read_every_value_kind_as_decoded(
    attributes: list[KeyValue],
) -> None:
    payload = server_and_client(attributes)
    assert list(passed(payload).all_facts()) == facts_from_columns(decode_protobuf(payload))


async def test_a_request_larger_than_a_batch_leaves_nothing_charged_once_exported() -> None:
    recorder = Recorder()
    processor = BatchProcessor(recorder, batch_spans=8, batch_timeout_s=0.05)
    await processor.start()
    try:
        assert processor.try_put(batch_of(20), 1000)
        for _ in range(100):
            if processor.stats.exported.spans == 20:
                break
            await asyncio.sleep(0.02)
        assert [len(b) for b in recorder.batches] == [20]
        assert (processor.queued_spans, processor.queued_bytes) == (0, 0)
    finally:
        await processor.stop()
