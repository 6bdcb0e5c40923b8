"""Zero loss: storage taken away for 60 s under load, answers lost after stored
inserts, the same batch written twice. What the collector acknowledged is stored
exactly once, in order, in otel_traces and in red_1m. Storage trouble comes from
`FailingStore`, a real fake in front of the shared chdb store."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from collector import (
    ClickHouseExporter,
    Collector,
    CollectorConfig,
    ExportBatch,
    RetryConfig,
    decode_protobuf,
)
from collector.testing import FailingStore
from storage import RedQuery, SpanColumns, Store
from storage.span_metrics_model import EdgeColumns, RedColumns
from tests.otlp_payloads import encode_request
from tests.spans import BASE_NS, MS, make_span, to_columns

FAST_RETRY = RetryConfig(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.2)
OUTAGE_S = 60.0


def config(spool: Path | None, *, batch_timeout_s: float = 0.25) -> CollectorConfig:
    # Batches of a quarter second: each chdb insert costs tens of milliseconds.
    return CollectorConfig(
        http_port=0, grpc_port=0, batch_timeout_s=batch_timeout_s, pairing_wait_s=0.2,
        retry=FAST_RETRY, spool_dir=str(spool) if spool else None,
    )  # fmt: skip


class Acknowledged:
    """What `load` got a 2xx for, as it goes (the outage test reads it mid-run)."""

    def __init__(self) -> None:
        self.spans = 0


async def load(
    port: int, service: str, seconds: float, *, every_s: float = 0.02,
    acknowledged: Acknowledged | None = None,
) -> int:  # fmt: skip
    """Send 50 root server spans per request for `seconds`, one request at a time, their
    timestamps rising in sending order; the spans acknowledged."""
    acked = acknowledged or Acknowledged()
    sequence = itertools.count()
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            spans = [
                make_span(service_name=service, timestamp_ns=BASE_NS + next(sequence) * MS)
                for _ in range(50)
            ]
            async with session.post(
                f"http://127.0.0.1:{port}/v1/traces",
                data=encode_request(spans),
                headers={"Content-Type": "application/x-protobuf"},
            ) as response:
                if response.status == 200:
                    acked.spans += len(spans)
                else:
                    assert response.status == 429, await response.text()
            await asyncio.sleep(every_s)
    return acked.spans


class WriteOrder:
    """Between the collector and the store: the span timestamps of each insert that
    storage took, with its deduplication token, in the order they came."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.inserts: list[tuple[str | None, list[int]]] = []

    def write_spans(self, batch: SpanColumns, *, dedup_token: str | None = None) -> None:
        self._store.write_spans(batch, dedup_token=dedup_token)
        self.inserts.append((dedup_token, list(batch.Timestamp)))

    def write_otlp_traces(self, payloads: list[bytes], *, dedup_token: str | None = None) -> None:
        """Trace requests passed through undecoded (the collector's default path)."""
        self._store.write_otlp_traces(payloads, dedup_token=dedup_token)
        timestamps = [t for payload in payloads for t in decode_protobuf(payload).Timestamp]
        self.inserts.append((dedup_token, timestamps))

    def write_red(self, rows: RedColumns, *, dedup_token: str | None = None) -> None:
        self._store.write_red(rows, dedup_token=dedup_token)

    def write_edges(self, rows: EdgeColumns, *, dedup_token: str | None = None) -> None:
        self._store.write_edges(rows, dedup_token=dedup_token)

    def timestamps(self) -> list[int]:
        """Every stored span once: an insert repeated with its token is not stored again."""
        seen: set[str | None] = set()
        result: list[int] = []
        for token, timestamps in self.inserts:
            if token not in seen:
                seen.add(token)
                result.extend(timestamps)
        return result


async def wait_count(store: Store, service: str, expected: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        count = await asyncio.to_thread(store.count_spans, service)
        if count >= expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.1)


@pytest.mark.timeout(180)
async def test_storage_down_60s_under_load_loses_nothing(chdb_store: Store, tmp_path: Path) -> None:
    """Issue 5: storage taken away for 60 s under a modest load (250 spans/s): every
    acknowledged span is stored once, in the order accepted, and counted once in red_1m."""
    service = f"outage-{uuid.uuid4().hex[:8]}"
    order = WriteOrder(chdb_store)
    failing = FailingStore(order)
    # One batch a second: 60 spool records to replay, not 240.
    collector = Collector(
        config(tmp_path / "spool", batch_timeout_s=1.0), ClickHouseExporter(failing)
    )
    acked = Acknowledged()
    await collector.start()
    try:
        sending = asyncio.create_task(
            load(collector.http_port, service, OUTAGE_S + 2.0, every_s=0.2, acknowledged=acked)
        )
        await asyncio.sleep(0.5)
        acked_before = acked.spans
        failing.down_for(OUTAGE_S)
        spool_records = []
        while True:
            await asyncio.sleep(1.0)
            if not failing.is_down:
                break
            spool_records.append(collector.telemetry()["meshlens_collector_spool_records"])
        acked_during = acked.spans - acked_before
        acknowledged = await sending
        stored = await wait_count(chdb_store, service, acknowledged, 60.0)
        assert stored == acknowledged
        stats = collector.exporter.stats
        for _ in range(100):
            if stats.replayed_spans == stats.spooled_spans:
                break
            await asyncio.sleep(0.05)
    finally:
        await collector.stop()
    # Storage was away the whole minute and what came in went to the spool on disk.
    assert failing.failed_writes > 0
    assert acked_during >= OUTAGE_S * 150
    # The spool only grew while storage was away (about one record per batch, a second).
    assert spool_records == sorted(spool_records) and spool_records[-1] >= OUTAGE_S / 2
    assert stats.spooled_spans >= acked_during * 0.95
    assert stats.replayed_spans == stats.spooled_spans
    # Replayed in order: storage received the spans as they were accepted, each once.
    timestamps = order.timestamps()
    assert len(timestamps) == acknowledged
    assert timestamps == sorted(timestamps)
    assert len(set(timestamps)) == acknowledged
    red = await asyncio.to_thread(chdb_store.red_summary, RedQuery(service=service))
    assert red.requests == acknowledged  # no double counting of replays
    assert collector.stats.dropped_spans == 0
    assert not list((tmp_path / "spool").glob("*.spool"))


async def test_lost_answers_are_not_stored_twice(chdb_store: Store) -> None:
    service = f"lost-answer-{uuid.uuid4().hex[:8]}"
    failing = FailingStore(chdb_store)
    failing.lose_answers(2)  # stored, but the collector is told it failed: it retries
    collector = Collector(config(None), ClickHouseExporter(failing))
    await collector.start()
    try:
        acknowledged = await load(collector.http_port, service, 0.5)
        stored = await wait_count(chdb_store, service, acknowledged, 5.0)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
        stored = await asyncio.to_thread(chdb_store.count_spans, service)
    finally:
        await collector.stop()
    assert failing.spans_written > acknowledged  # some batches really were written twice
    assert stored == acknowledged
    red = await asyncio.to_thread(chdb_store.red_summary, RedQuery(service=service))
    assert red.requests == acknowledged


async def test_a_replayed_batch_is_stored_once(chdb_store: Store) -> None:
    service = f"replay-{uuid.uuid4().hex[:8]}"
    spans = to_columns(*(make_span(service_name=service) for _ in range(5)))
    batch = ExportBatch(spans=spans)
    batch.red.Minute.append(BASE_NS // 10**9 // 60 * 60)
    batch.red.ServiceName.append(service)
    for column, value in (("Operation", "GET /"), ("ServiceVersion", ""), ("Caller", ""),
                          ("StatusClass", "ok")):  # fmt: skip
        getattr(batch.red, column).append(value)
    batch.red.Requests.append(5)
    batch.red.Errors.append(0)
    batch.red.DurationSumNs.append(50 * MS)
    batch.red.DurationBuckets.append({100: 5})
    exporter = ClickHouseExporter(chdb_store)
    await exporter.push(batch)
    await exporter.push(batch)  # a replay after a lost answer: same token
    assert await asyncio.to_thread(chdb_store.count_spans, service) == 5
    red = await asyncio.to_thread(chdb_store.red_summary, RedQuery(service=service))
    assert (red.requests, red.buckets) == (5, {100: 5})
    await exporter.push(ExportBatch(spans=spans))  # the same spans as a new batch count again
    assert await asyncio.to_thread(chdb_store.count_spans, service) == 10
