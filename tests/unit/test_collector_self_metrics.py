"""Self-metrics: the snapshot -> metric rows mapping, the config, and rounds that
skip instead of waiting (fake writers, a FakeClock: no storage, no real interval)."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Callable

import pytest

from collector import (
    Collector,
    CollectorConfig,
    SelfMetricsConfig,
    SinkExporter,
    TailSamplingConfig,
)
from collector.admin import METRICS
from collector.config import CollectorConfigError
from collector.exporters.export_latency import EXPORT_LATENCY_BOUNDS_S, ExportLatency
from collector.self_metrics import (
    EXPORT_LATENCY_METRIC,
    SCOPE_NAME,
    SERVICE_NAME,
    SelfMetrics,
    self_metric_rows,
)
from collector.self_tracing import is_self_tracing_suppressed
from collector.testing import FakeClock, MetricsSink
from storage.metrics_model import MetricColumns

START_NS = 1_735_689_600_000_000_000
TIME_NS = START_NS + 10 * 10**9


def _latency(*seconds: float) -> ExportLatency:
    latency = ExportLatency()
    for value in seconds:
        latency.record(value)
    return latency


def test_export_latency_buckets_count_up_to_their_bound_inclusive() -> None:
    latency = _latency(0.0005, 0.001, 0.0011, 0.3, 99.0)
    counts = latency.bucket_counts
    assert len(counts) == len(EXPORT_LATENCY_BOUNDS_S) + 1
    assert counts[0] == 2  # (.., 0.001]
    assert counts[1] == 1  # (0.001, 0.0025]
    assert counts[EXPORT_LATENCY_BOUNDS_S.index(0.5)] == 1  # (0.25, 0.5]
    assert counts[-1] == 1  # above 30 s
    assert (latency.count, latency.min, latency.max) == (5, 0.0005, 99.0)
    assert latency.sum == pytest.approx(99.3026)
    copy = latency.copy()
    latency.record(1.0)
    assert copy.count == 5 and sum(copy.bucket_counts) == 5


def test_snapshot_maps_to_sums_gauges_and_the_latency_histogram() -> None:
    snapshot = {
        "meshlens_collector_accepted_spans_total": 12,
        "meshlens_collector_spooled_log_records_total": 3,
        "meshlens_collector_queue_spans": 7,
        "meshlens_collector_queue_bytes": 2048,
        "meshlens_collector_spool_bytes": 512,
        "meshlens_collector_export_duration_seconds_sum": 0.3,  # the histogram stands for these
        "meshlens_collector_export_duration_seconds_count": 2,
        "meshlens_collector_some_new_thing_total": 1,  # not in admin.METRICS: by its suffix
    }
    rows = self_metric_rows(
        snapshot, _latency(0.002, 0.3), instance_id="host-a:42", start_ns=START_NS, time_ns=TIME_NS
    )
    sums = dict(zip(rows.sums.MetricName, rows.sums.Value, strict=True))
    assert sums == {
        "meshlens_collector_accepted_spans": 12.0,
        "meshlens_collector_spooled_log_records": 3.0,
        "meshlens_collector_some_new_thing": 1.0,
    }
    assert set(rows.sums.IsMonotonic) == {True}
    assert set(rows.sums.AggregationTemporality) == {2}  # cumulative
    gauges = dict(zip(rows.gauges.MetricName, rows.gauges.Value, strict=True))
    assert gauges == {
        "meshlens_collector_queue_spans": 7.0,
        "meshlens_collector_queue_bytes": 2048.0,
        "meshlens_collector_spool_bytes": 512.0,
    }
    assert rows.histograms.MetricName == [EXPORT_LATENCY_METRIC]
    h = rows.histograms
    assert (h.Count, h.Sum, h.Min, h.Max) == ([2], [pytest.approx(0.302)], [0.002], [0.3])
    assert h.ExplicitBounds == [list(EXPORT_LATENCY_BOUNDS_S)]
    assert h.BucketCounts[0][1] == 1 and h.BucketCounts[0][EXPORT_LATENCY_BOUNDS_S.index(0.5)] == 1
    assert h.AggregationTemporality == [2]
    assert len(rows) == 3 + 3 + 1
    for _, points in rows.tables():
        assert set(points.ServiceName) <= {SERVICE_NAME}
        assert set(points.ScopeName) <= {SCOPE_NAME}
        assert set(points.StartTimeUnix) <= {START_NS}
        assert set(points.TimeUnix) <= {TIME_NS}
        for resource in points.ResourceAttributes:
            assert resource == {"service.name": SERVICE_NAME, "service.instance.id": "host-a:42"}
    units = {
        name: unit
        for _, p in rows.tables()
        for name, unit in zip(p.MetricName, p.MetricUnit, strict=True)
    }
    assert units["meshlens_collector_queue_bytes"] == "By"
    assert units["meshlens_collector_accepted_spans"] == "1"
    assert units[EXPORT_LATENCY_METRIC] == "s"
    described = dict(zip(rows.sums.MetricName, rows.sums.MetricDescription, strict=True))
    assert described["meshlens_collector_accepted_spans"] == "Spans accepted with a 2xx."


def test_histogram_has_no_extremes_before_the_first_export() -> None:
    rows = self_metric_rows({}, ExportLatency(), instance_id="i", start_ns=1, time_ns=2)
    h = rows.histograms
    assert (h.Count, h.Sum, h.Min, h.Max) == ([0], [0.0], [0.0], [0.0])
    assert h.BucketCounts == [[0] * (len(EXPORT_LATENCY_BOUNDS_S) + 1)]


def test_every_name_the_collector_reports_has_a_declared_kind() -> None:
    config = CollectorConfig(
        http_port=0, grpc_port=0, admin_port=0, spool_dir=tempfile.mkdtemp(),
        tail_sampling=TailSamplingConfig(enabled=True),
    )  # fmt: skip
    collector = Collector(config, SinkExporter(), self_metrics_store=MetricsSink())
    declared = {name for name, _, _ in METRICS}
    assert set(collector.telemetry()) <= declared


def test_no_store_or_interval_zero_means_no_self_metrics() -> None:
    on = CollectorConfig(http_port=0, grpc_port=0)
    assert Collector(on, SinkExporter()).self_metrics is None  # nowhere to write
    off = CollectorConfig(http_port=0, grpc_port=0, self_metrics=SelfMetricsConfig(interval_s=0))
    assert Collector(off, SinkExporter(), self_metrics_store=MetricsSink()).self_metrics is None


def test_config_names_every_bad_self_metrics_value() -> None:
    with pytest.raises(CollectorConfigError) as raised:
        CollectorConfig(self_metrics=SelfMetricsConfig(interval_s=0.01, instance_id=""))
    assert raised.value.problems == [
        "collector.self_metrics.interval_s: must be 0 (off) or a number of seconds "
        "0.1..86400, got 0.01",
        "collector.self_metrics.instance_id: must be a non-empty string or None, got ''",
    ]
    for bad in (-1, True, "10", 86_401):
        problems = SelfMetricsConfig(interval_s=bad).problems()  # type: ignore[arg-type]
        assert [p.split(":")[0] for p in problems] == ["self_metrics.interval_s"]
    assert not SelfMetricsConfig(interval_s=0).enabled
    with pytest.raises(CollectorConfigError, match=r"self_metrics\.interval_s"):
        SelfMetrics(MetricsSink(), dict, ExportLatency, SelfMetricsConfig(interval_s=-1))


class HangingWriter:
    """A storage write that does not return until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches: list[MetricColumns] = []

    def write_metrics(self, batch: MetricColumns, *, dedup_token: str | None = None) -> None:
        self.release.wait(10)
        self.batches.append(batch)


class RaisingWriter:
    def write_metrics(self, batch: MetricColumns, *, dedup_token: str | None = None) -> None:
        raise ConnectionError("storage is down")


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def _until(done: Callable[[], bool]) -> None:
    """Writes run in a worker thread: give it (real) time, boundedly."""
    for _ in range(200):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_a_hanging_write_makes_later_rounds_skip_not_wait() -> None:
    clock, writer = FakeClock(), HangingWriter()
    counts = {"meshlens_collector_accepted_spans_total": 1.0}
    metrics = SelfMetrics(
        writer, lambda: counts, ExportLatency, SelfMetricsConfig(instance_id="t"),
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    await metrics.start()
    await _settle()
    clock.advance(10)  # round 1: its write hangs
    await _settle()
    clock.advance(10)  # round 2: finds it still writing
    await _settle()
    assert metrics.stats.busy_rounds == 1
    assert await asyncio.wait_for(metrics.write_round(), 1) is False  # forced: skipped too
    assert metrics.stats.busy_rounds == 2
    writer.release.set()
    await _until(lambda: metrics.stats.written_rounds == 1)
    assert len(writer.batches) == 1
    assert await metrics.write_round() is True  # free again
    [first, second] = writer.batches
    assert second.sums.TimeUnix[0] - first.sums.TimeUnix[0] == 10 * 10**9  # the fake clock's
    await asyncio.wait_for(metrics.stop(), 1)


async def test_a_failing_write_is_skipped_and_counted() -> None:
    clock = FakeClock()
    metrics = SelfMetrics(
        RaisingWriter(), dict, ExportLatency, SelfMetricsConfig(), clock=clock, sleep=clock.sleep
    )
    await metrics.start()
    await _settle()
    for round_ in range(1, 4):
        clock.advance(10)
        await _until(lambda: metrics.stats.failed_rounds == round_)  # noqa: B023
    assert await asyncio.wait_for(metrics.write_round(), 1) is False
    assert (metrics.stats.failed_rounds, metrics.stats.written_rounds) == (4, 0)
    await metrics.stop()


class SuppressionProbe:
    """Records whether instrumentation is suppressed where the storage client runs."""

    def __init__(self) -> None:
        self.suppressed: list[bool] = []

    def write_metrics(self, batch: MetricColumns, *, dedup_token: str | None = None) -> None:
        self.suppressed.append(is_self_tracing_suppressed())


async def test_writes_run_with_self_tracing_suppressed() -> None:
    clock, probe = FakeClock(), SuppressionProbe()
    metrics = SelfMetrics(probe, dict, ExportLatency, clock=clock, sleep=clock.sleep)
    assert await metrics.write_round() is True  # forced, from a caller that is not suppressed
    await metrics.start()
    await _settle()
    clock.advance(10)  # and by the rounds task
    await _until(lambda: len(probe.suppressed) == 2)
    assert probe.suppressed == [True, True]
    await metrics.stop()
