"""OTLP trace requests decoded by ClickHouse (the passthrough) store the same rows as
spans decoded in Python, once per deduplication token; what ClickHouse refuses is
written from Python; a collector passes through what it can. Real chdb (shared
engine; the row comparisons use databases of their own on it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from collector import ClickHouseExporter, Collector, CollectorConfig, ExportBatch, decode_protobuf
from collector.config import TailSamplingConfig
from storage import Store
from storage.connection import connect
from storage.url import parse_storage_url
from tests.passthrough_payloads import (
    every_conversion_request,
    mesh_request,
    oneof_given_twice_request,
)


@pytest.fixture
def two_stores(chdb_store: Store) -> Iterator[tuple[Store, Store]]:
    """Two fresh databases on the shared chdb engine: decoded, passed through."""
    stores = []
    for role in ("decoded", "passthrough"):
        database = f"{role}_{uuid.uuid4().hex[:8]}"
        client = connect(parse_storage_url(chdb_store.url))
        store = Store(client, url=chdb_store.url, database=database)
        store.migrate()
        stores.append(store)
    yield stores[0], stores[1]
    for store in stores:
        store._run(lambda c, db=store.database: c.command(f"DROP DATABASE `{db}`"))  # type: ignore[misc]
        store.close()


def rows(store: Store, table: str = "otel_traces") -> list[tuple[object, ...]]:
    order = "TraceId, SpanId" if table == "otel_traces" else "TraceId"
    return store._run(
        lambda c: c.query(f"SELECT * FROM `{store.database}`.{table} ORDER BY {order}").result_rows
    )


@pytest.mark.parametrize(
    "payload",
    [mesh_request(("web", "cart", "stock"), 200), every_conversion_request("conversions")],
    ids=["mesh", "every_conversion"],
)
def test_rows_are_those_of_the_spans_decoded_in_python(
    two_stores: tuple[Store, Store], payload: bytes
) -> None:
    decoded, passthrough = two_stores
    decoded.write_spans(decode_protobuf(payload), dedup_token="t")
    passthrough.write_otlp_traces([payload], dedup_token="t")
    expected = rows(decoded)
    assert len(expected) == len(decode_protobuf(payload))
    assert rows(passthrough) == expected
    assert rows(passthrough, "otel_traces_trace_id_ts") == rows(decoded, "otel_traces_trace_id_ts")


def test_several_requests_in_one_insert(two_stores: tuple[Store, Store]) -> None:
    decoded, passthrough = two_stores
    payloads = [mesh_request(("a", "b"), 30, seed=i) for i in range(3)]
    payloads.append(ExportTraceServiceRequest().SerializeToString())  # empty: no spans
    for i, payload in enumerate(payloads):
        decoded.write_spans(decode_protobuf(payload), dedup_token=f"t{i}")
    passthrough.write_otlp_traces(payloads, dedup_token="t")
    assert rows(passthrough) == rows(decoded)


def test_the_embedded_engine_leaves_no_schema_cache_in_the_working_directory(
    two_stores: tuple[Store, Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With an inline schema, chdb caches it in ./__cache__ of whoever runs meshlens.
    monkeypatch.chdir(tmp_path)
    _, store = two_stores
    store.write_otlp_traces([mesh_request(("a", "b"), 3)], dedup_token="cwd")
    assert len(rows(store)) == 9
    assert list(tmp_path.iterdir()) == []


def test_an_insert_written_again_with_its_token_is_stored_once(
    two_stores: tuple[Store, Store],
) -> None:
    _, store = two_stores
    payload = mesh_request(("a", "b"), 10)
    store.write_otlp_traces([payload], dedup_token="once")
    store.write_otlp_traces([payload], dedup_token="once")  # a replay after a lost answer
    assert len(rows(store)) == 30
    assert len(rows(store, "otel_traces_trace_id_ts")) == 10
    store.write_otlp_traces([payload], dedup_token="another")  # a new batch counts again
    assert len(rows(store)) == 60


async def test_requests_clickhouse_refuses_are_written_from_python(
    two_stores: tuple[Store, Store],
) -> None:
    decoded, passthrough = two_stores
    payload = oneof_given_twice_request("twice")
    batch = ExportBatch(otlp=[payload], otlp_spans=1)
    await ClickHouseExporter(passthrough).push(batch)
    await ClickHouseExporter(passthrough).push(batch)  # replayed: still once
    decoded.write_spans(decode_protobuf(payload))
    assert rows(passthrough) == rows(decoded)
    assert rows(passthrough)[0][11] == {"twice": "5"}  # SpanAttributes: protobuf's last value


async def test_a_collector_passes_through_what_it_can(chdb_store: Store) -> None:
    suffix = uuid.uuid4().hex[:8]
    plain = mesh_request((f"web-{suffix}", f"cart-{suffix}"), 5)
    request = ExportTraceServiceRequest.FromString(mesh_request((f"odd-{suffix}",), 2))
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(
        KeyValue(key="list", value=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])))
    )
    config = CollectorConfig(http_port=0, grpc_port=0, batch_timeout_s=0.02, pairing_wait_s=0.5)
    collector = Collector(config, ClickHouseExporter(chdb_store))
    assert collector.otlp_passthrough
    await collector.start()
    try:
        async with aiohttp.ClientSession() as session:
            for body in (plain, request.SerializeToString()):
                async with session.post(
                    f"http://127.0.0.1:{collector.http_port}/v1/traces", data=body,
                    headers={"Content-Type": "application/x-protobuf"},
                ) as response:  # fmt: skip
                    assert response.status == 200, await response.text()
        for _ in range(200):
            if collector.exporter.stats.exported_spans == 17:
                break
            await asyncio.sleep(0.02)
    finally:
        await collector.stop()
    assert await asyncio.to_thread(chdb_store.count_spans, f"web-{suffix}") == 10  # and calls
    assert await asyncio.to_thread(chdb_store.count_spans, f"odd-{suffix}") == 2
    attributes = chdb_store._run(
        lambda c: (
            c.query(
                "SELECT SpanAttributes['list'] FROM meshlens.otel_traces "
                "WHERE ServiceName = {s:String} AND mapContains(SpanAttributes, 'list')",
                parameters={"s": f"odd-{suffix}"},
            ).result_rows
        )
    )
    assert attributes == [("[1]",)]  # decoded in Python: compact JSON


def test_no_passthrough_when_tail_sampling_needs_every_span_decoded(chdb_store: Store) -> None:
    sampled = CollectorConfig(
        http_port=0, grpc_port=0, tail_sampling=TailSamplingConfig(enabled=True)
    )
    assert not Collector(sampled, ClickHouseExporter(chdb_store)).otlp_passthrough
    decoded = ClickHouseExporter(chdb_store, otlp_passthrough=False)
    assert not Collector(CollectorConfig(http_port=0, grpc_port=0), decoded).otlp_passthrough
