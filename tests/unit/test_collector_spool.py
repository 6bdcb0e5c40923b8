"""The disk spool: order, checksums, the size cap, crash leftovers, its two record
versions; and the spooling exporter: retries, then spool, then replay in order
when the exporter is back, for every signal."""

from __future__ import annotations

import asyncio
import json
import zlib
from pathlib import Path

from collector import ExportBatch, RetryConfig, SinkExporter, SpoolingExporter
from collector.exporters.spool import DiskSpool, decode_batch, encode_batch
from collector.pipeline import ItemCounts
from collector.translate import decode_logs_json, decode_metrics_json
from tests.spans import make_span, to_columns


def batch(service: str, spans: int = 3) -> ExportBatch:
    result = ExportBatch(spans=to_columns(*(make_span(service_name=service) for _ in range(spans))))
    result.red.DurationBuckets.append({7: 2})  # one ragged column is fine for the codec
    return result


def test_a_record_round_trips_with_its_token() -> None:
    original = batch("a")
    decoded = decode_batch(encode_batch(original))
    assert decoded.token == original.token
    assert decoded.spans == original.spans
    assert decoded.red.DurationBuckets == [{7: 2}]


def test_oldest_first_and_survives_reopening(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=10**6)
    for name in ("a", "b", "c"):
        assert spool.append(batch(name))
    (tmp_path / "0000000000000009.tmp").write_bytes(b"half a record")  # a crash mid-write
    reopened = DiskSpool(tmp_path, max_bytes=10**6)
    assert len(reopened) == 3 and not list(tmp_path.glob("*.tmp"))
    seen = []
    while (oldest := reopened.oldest()) is not None:
        path, record = oldest
        seen.append(record.spans.ServiceName[0])
        reopened.remove(path)
    assert seen == ["a", "b", "c"]
    assert reopened.stats.bytes == 0
    assert reopened.append(batch("d"))
    newest = reopened.oldest()
    assert newest is not None and newest[0].name == "0000000000000004.spool"


def test_corrupt_records_are_set_aside(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=10**6)
    spool.append(batch("bad"))
    spool.append(batch("good"))
    first = sorted(tmp_path.glob("*.spool"))[0]
    data = bytearray(first.read_bytes())
    data[-1] ^= 0xFF
    first.write_bytes(bytes(data))
    oldest = spool.oldest()
    assert oldest is not None and oldest[1].spans.ServiceName[0] == "good"
    assert spool.stats.corrupt == 1
    assert (tmp_path / "corrupt" / first.name).exists()


def test_the_cap_refuses_but_always_takes_one(tmp_path: Path) -> None:
    size = len(encode_batch(batch("x", 50)))
    spool = DiskSpool(tmp_path, max_bytes=size + size // 2)
    assert spool.append(batch("x", 50))
    assert not spool.append(batch("y", 50))
    assert len(spool) == 1


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


async def test_spooling_exporter_spools_then_replays_in_order(tmp_path: Path) -> None:
    sink = SinkExporter()
    spool = DiskSpool(tmp_path, max_bytes=10**7)
    exporter = SpoolingExporter(sink, RetryConfig(max_attempts=2), spool, sleep=no_sleep)
    await exporter.start()
    try:
        sink.fail_next(2 + 10)  # the first push gives up; its replay fails for a while
        first = batch("first")
        await exporter.push(first)
        await exporter.push(batch("second"))  # behind the spooled one, not before it
        assert exporter.stats.spooled_spans == 6
        await sink.wait_for_spans(6)
        for _ in range(100):  # the record is deleted once the push has returned
            if not len(spool):
                break
            await asyncio.sleep(0.01)
    finally:
        await exporter.stop()
    assert [e.spans.ServiceName[0] for e in sink.exports] == ["first", "second"]
    assert sink.exports[0].token == first.token
    assert len(spool) == 0 and exporter.stats.replayed_spans == 6


OTLP_DATA = Path(__file__).parent / "otlp_data"


def metrics_and_logs() -> ExportBatch:
    return ExportBatch(
        metrics=decode_metrics_json((OTLP_DATA / "metrics.json").read_bytes()).batch,
        logs=decode_logs_json((OTLP_DATA / "logs.json").read_bytes()).batch,
    )


def test_metrics_and_logs_round_trip_in_a_version_2_record() -> None:
    original = metrics_and_logs()
    record = encode_batch(original)
    assert record.startswith(b"MLSPOOL2")
    decoded = decode_batch(record)
    assert decoded.token == original.token
    assert decoded.metrics == original.metrics
    assert decoded.logs == original.logs
    assert decoded.counts() == ItemCounts(spans=0, metric_points=5, log_records=2)


def test_trace_batches_stay_version_1_as_earlier_collectors_read_them() -> None:
    record = encode_batch(batch("a"))
    assert record.startswith(b"MLSPOOL1")
    document = json.loads(zlib.decompress(record[8 + 12 :]))
    assert set(document) == {"token", "spans", "red", "edges"}  # the version 1 keys only
    decoded = decode_batch(record)
    assert len(decoded.metrics) == len(decoded.logs) == 0 and len(decoded.spans) == 3


async def test_metrics_and_logs_are_spooled_and_replayed(tmp_path: Path) -> None:
    sink = SinkExporter()
    spool = DiskSpool(tmp_path, max_bytes=10**7)
    exporter = SpoolingExporter(sink, RetryConfig(max_attempts=1), spool, sleep=no_sleep)
    await exporter.start()
    try:
        sink.fail_next(1)
        await exporter.push(metrics_and_logs())
        assert exporter.stats.spooled == ItemCounts(metric_points=5, log_records=2)
        await sink.wait_for_log_records(2)
        await sink.wait_for_metric_points(5)
        for _ in range(100):  # counted once the record is deleted, after the push
            if exporter.stats.replayed == exporter.stats.spooled:
                break
            await asyncio.sleep(0.01)
    finally:
        await exporter.stop()
    assert exporter.stats.replayed == exporter.stats.exported == exporter.stats.spooled
