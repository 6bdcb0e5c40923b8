"""Zero loss: storage taken away under load, answers lost after stored inserts, the
same batch written twice. What the collector acknowledged is stored exactly once,
in otel_traces and in red_1m. Storage trouble comes from `FailingStore`, a real
fake in front of the shared chdb store."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp

from collector import ClickHouseExporter, Collector, CollectorConfig, ExportBatch, RetryConfig
from collector.testing import FailingStore
from storage import RedQuery, Store
from tests.otlp_payloads import encode_request
from tests.spans import BASE_NS, MS, make_span, to_columns

FAST_RETRY = RetryConfig(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.2)


def config(spool: Path | None) -> CollectorConfig:
    # Batches of a quarter second: each chdb insert costs tens of milliseconds.
    return CollectorConfig(
        http_port=0, grpc_port=0, batch_timeout_s=0.25, pairing_wait_s=0.2,
        retry=FAST_RETRY, spool_dir=str(spool) if spool else None,
    )  # fmt: skip


async def load(port: int, service: str, seconds: float) -> int:
    """Send 50 root server spans per request for `seconds`; the spans acknowledged."""
    acknowledged = 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            spans = [
                make_span(service_name=service, timestamp_ns=BASE_NS + i * MS) for i in range(50)
            ]
            async with session.post(
                f"http://127.0.0.1:{port}/v1/traces",
                data=encode_request(spans),
                headers={"Content-Type": "application/x-protobuf"},
            ) as response:
                if response.status == 200:
                    acknowledged += len(spans)
                else:
                    assert response.status == 429, await response.text()
            await asyncio.sleep(0.02)
    return acknowledged


async def wait_count(store: Store, service: str, expected: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        count = await asyncio.to_thread(store.count_spans, service)
        if count >= expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.1)


async def test_storage_down_under_load_loses_nothing(chdb_store: Store, tmp_path: Path) -> None:
    service = f"outage-{uuid.uuid4().hex[:8]}"
    failing = FailingStore(chdb_store)
    collector = Collector(config(tmp_path / "spool"), ClickHouseExporter(failing))
    await collector.start()
    try:
        sending = asyncio.create_task(load(collector.http_port, service, 6.0))
        await asyncio.sleep(0.5)
        failing.down_for(5.0)
        acknowledged = await sending
        stored = await wait_count(chdb_store, service, acknowledged, 15.0)
        assert stored == acknowledged
        assert failing.failed_writes > 0
        stats = collector.exporter.stats
        assert stats.spooled_spans > 0
        for _ in range(50):
            if stats.replayed_spans == stats.spooled_spans:
                break
            await asyncio.sleep(0.05)
        assert stats.replayed_spans == stats.spooled_spans
        red = await asyncio.to_thread(chdb_store.red_summary, RedQuery(service=service))
        assert red.requests == acknowledged
        assert collector.stats.dropped_spans == 0
    finally:
        await collector.stop()
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
