"""Batch processor, retry wrapper and exporters, wired to real fakes (no sockets)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from collector import ClickHouseExporter, ExportBatch, RetryConfig, RetryingExporter, SinkExporter
from collector.exporters import SinkExporterError
from collector.pipeline import ItemCounts
from collector.processors import BatchProcessor, split_columns
from collector.self_tracing import is_self_tracing_suppressed
from collector.translate import decode_metrics_json
from storage.metrics_model import MetricColumns
from storage.model import SpanColumns, SpanRecord

METRICS_JSON = (Path(__file__).parent / "otlp_data" / "metrics.json").read_bytes()

_next_id = 0


def spans(count: int) -> SpanColumns:
    global _next_id
    batch = SpanColumns()
    for _ in range(count):
        _next_id += 1
        batch.append(
            SpanRecord(
                timestamp_ns=_next_id,
                trace_id=f"{_next_id:032x}",
                span_id=f"{_next_id:016x}",
                parent_span_id="",
                span_name="op",
                span_kind="Server",
                service_name="svc",
                duration_ns=1,
            )
        )
    return batch


def sizes(sink: SinkExporter) -> list[int]:
    return [len(b) for b in sink.batches]


async def test_merges_small_batches_and_splits_at_batch_size() -> None:
    sink = SinkExporter()
    processor = BatchProcessor(sink, batch_spans=4, batch_timeout_s=60)
    await processor.start()
    sent = [spans(2), spans(2), spans(2)]
    for batch in sent:
        assert processor.try_put(batch)
    await sink.wait_for_spans(4)
    assert sizes(sink) == [4]
    await processor.stop()  # drains the last 2 without waiting for the timeout
    assert sizes(sink) == [4, 2]
    expected = SpanColumns()
    for batch in sent:
        expected.extend(batch)
    assert sink.spans() == expected  # nothing lost, order kept


async def test_large_batch_is_split() -> None:
    sink = SinkExporter()
    processor = BatchProcessor(sink, batch_spans=4, batch_timeout_s=60)
    await processor.start()
    assert processor.try_put(spans(10))
    await sink.wait_for_spans(8)
    await processor.stop()
    assert sizes(sink) == [4, 4, 2]


async def test_what_waits_behind_a_running_export_goes_out_as_one_larger_batch() -> None:
    sink = SinkExporter()
    sink.pause()
    processor = BatchProcessor(sink, batch_spans=4, batch_max_spans=10, batch_timeout_s=60)
    await processor.start()
    assert processor.try_put(spans(4))
    await asyncio.sleep(0.05)  # being exported, stuck in the paused sink
    for _ in range(7):
        assert processor.try_put(spans(2))
    await sink.resume()
    await sink.wait_for_spans(14)
    await processor.stop()
    assert sizes(sink) == [4, 10, 4]  # up to batch_max_spans at once, never more


def test_batch_max_spans_below_batch_spans_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_max_spans: must be >= batch_spans"):
        BatchProcessor(SinkExporter(), batch_spans=4, batch_max_spans=3)


async def test_flushes_after_timeout() -> None:
    sink = SinkExporter()
    processor = BatchProcessor(sink, batch_spans=100, batch_timeout_s=0.05)
    await processor.start()
    processor.try_put(spans(3))
    await sink.wait_for_spans(3, timeout_s=2)
    assert sizes(sink) == [3]
    await processor.stop()


async def test_refuses_when_full_counting_spans_being_exported() -> None:
    sink = SinkExporter()
    sink.pause()
    processor = BatchProcessor(sink, queue_spans=5, batch_spans=5, batch_timeout_s=0.01)
    await processor.start()
    assert processor.try_put(spans(3))
    await asyncio.sleep(0.05)  # now being exported, stuck in the paused sink
    assert processor.queued_spans == 3
    assert not processor.try_put(spans(3))
    assert processor.try_put(spans(2))
    assert not processor.try_put(spans(1))
    assert processor.stats.refused_spans == 4
    await sink.resume()
    await sink.wait_for_spans(5)
    await asyncio.sleep(0.05)
    assert processor.queued_spans == 0
    assert processor.try_put(spans(1))
    await processor.stop()
    assert processor.stats.accepted_spans == processor.stats.exported_spans == 6


def metric_points(count: int) -> MetricColumns:
    """`count` gauge points (the JSON test data's gauge, repeated)."""
    gauge = decode_metrics_json(METRICS_JSON).batch.gauges
    batch = MetricColumns()
    for _ in range(count):
        batch.gauges.extend(gauge)
    return batch


async def test_every_signal_shares_the_one_budget() -> None:
    sink = SinkExporter()
    sink.pause()
    processor = BatchProcessor(sink, queue_spans=5, batch_spans=5, batch_timeout_s=60)
    await processor.start()
    assert processor.try_put(spans(3))
    assert not processor.try_put(metric_points(3))  # 3 spans + 3 points > 5 items
    assert processor.try_put(metric_points(2), rejected=4)
    assert processor.queued_spans == 5
    stats = processor.stats
    assert stats.refused == ItemCounts(metric_points=3)
    assert stats.accepted == ItemCounts(spans=3, metric_points=2)
    assert stats.rejected == ItemCounts(metric_points=4)
    await sink.resume()
    await processor.stop()
    assert stats.exported == stats.accepted


async def test_signals_wait_in_lanes_and_are_never_merged() -> None:
    sink = SinkExporter()
    processor = BatchProcessor(sink, batch_spans=4, batch_timeout_s=60)
    await processor.start()
    processor.try_put(spans(2))
    processor.try_put(metric_points(3))
    processor.try_put(spans(2))  # fills the span lane: sent at once
    await sink.wait_for_spans(4)
    assert sink.metric_batches == []
    processor.try_put(metric_points(2))  # 5 points: one batch of 4 now, 1 at stop
    await sink.wait_for_metric_points(4)
    await processor.stop()
    assert sizes(sink) == [4]
    assert [len(b) for b in sink.metric_batches] == [4, 1]


async def test_a_request_with_only_rejected_items_is_taken() -> None:
    processor = BatchProcessor(SinkExporter())
    await processor.start()
    assert processor.try_put(SpanColumns(), rejected=2)
    await processor.stop()
    assert processor.stats.rejected.spans == 2 and processor.stats.accepted.spans == 0


async def test_oversized_batch_is_taken_when_queue_is_empty() -> None:
    sink = SinkExporter()
    processor = BatchProcessor(sink, queue_spans=5, batch_spans=5)
    await processor.start()
    assert processor.try_put(spans(8))
    await processor.stop()
    assert sink.span_count == 8


async def test_failed_export_is_dropped_and_counted() -> None:
    sink = SinkExporter()
    sink.fail_next(1)
    processor = BatchProcessor(sink, batch_spans=2, batch_timeout_s=60)
    await processor.start()
    processor.try_put(spans(2))
    processor.try_put(spans(2))
    await sink.wait_for_spans(2)
    await processor.stop()
    assert processor.stats.dropped_spans == 2
    assert processor.stats.exported_spans == 2
    assert processor.queued_spans == 0


async def test_stop_gives_up_after_drain_timeout() -> None:
    sink = SinkExporter()
    sink.pause()
    processor = BatchProcessor(sink, batch_spans=2, batch_timeout_s=60, drain_timeout_s=0.1)
    await processor.start()
    processor.try_put(spans(2))
    processor.try_put(spans(3))
    await processor.stop()
    assert processor.stats.dropped_spans == 5  # 2 cancelled mid-export, 3 never sent
    assert not processor.try_put(spans(1))


async def test_lifecycle() -> None:
    sink = SinkExporter()
    processor = BatchProcessor(sink, batch_timeout_s=60)
    await processor.stop()  # before start
    assert not processor.try_put(spans(1))
    await processor.start()
    await processor.start()  # twice
    processor.try_put(spans(1))
    await processor.stop()
    await processor.stop()  # twice
    await processor.start()  # and again
    processor.try_put(spans(2))
    await processor.stop()
    assert sizes(sink) == [1, 2]


async def test_exports_do_not_trace_themselves() -> None:
    seen: list[bool] = []

    class Recorder:
        async def push(self, batch: SpanColumns) -> None:
            seen.append(is_self_tracing_suppressed())

    processor = BatchProcessor(Recorder(), batch_timeout_s=60)
    await processor.start()
    processor.try_put(spans(1))
    await processor.stop()
    assert seen == [True]
    assert not is_self_tracing_suppressed()


def test_split_columns() -> None:
    batch = spans(5)
    head, tail = split_columns(batch, 2)
    assert (len(head), len(tail)) == (2, 3)
    head.extend(tail)
    assert head == batch


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_retrying_exporter_backs_off_then_succeeds() -> None:
    sink, sleep = SinkExporter(), FakeSleep()
    sink.fail_next(3)
    exporter = RetryingExporter(
        sink, RetryConfig(max_attempts=5, initial_backoff_s=0.1, max_backoff_s=0.3), sleep=sleep
    )
    await exporter.push(ExportBatch(spans=spans(2)))
    assert sleep.delays == [0.1, 0.2, 0.3]
    assert sink.span_count == 2
    assert exporter.retries == 3


async def test_retrying_exporter_gives_up() -> None:
    sink, sleep = SinkExporter(), FakeSleep()
    sink.fail_next(10)
    exporter = RetryingExporter(sink, RetryConfig(max_attempts=3), sleep=sleep)
    with pytest.raises(SinkExporterError):
        await exporter.push(ExportBatch(spans=spans(1)))
    assert sink.push_calls == 3
    assert sleep.delays == [0.1, 0.2]


class FakeStore:
    """Stands in for storage.Store: records where and how write_spans ran."""

    def __init__(self) -> None:
        self.batches: list[SpanColumns] = []
        self.threads: list[str] = []
        self.suppressed: list[bool] = []
        self.tokens: list[str | None] = []

    def write_spans(self, batch: SpanColumns, *, dedup_token: str | None = None) -> None:
        self.tokens.append(dedup_token)
        self.batches.append(batch)
        self.threads.append(threading.current_thread().name)
        self.suppressed.append(is_self_tracing_suppressed())


async def test_clickhouse_exporter_writes_in_a_thread_without_tracing() -> None:
    store = FakeStore()
    exporter = ClickHouseExporter(store)
    batch = ExportBatch(spans=spans(3))
    await exporter.push(batch)
    await exporter.push(ExportBatch())  # nothing to write
    assert store.batches == [batch.spans]
    assert store.tokens == [batch.token]
    assert store.threads[0] != threading.current_thread().name
    assert store.suppressed == [True]
