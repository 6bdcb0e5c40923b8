"""Self-metrics: the collector's own telemetry, written to storage as OTel metric points.

Every `SelfMetricsConfig.interval_s` a round snapshots `Collector.telemetry()` (the
numbers the admin port serves as Prometheus text) and the export latency
histogram, and writes them as metric points of service `meshlens-collector`:

    counters (`..._total`)  ─► otel_metrics_sum, cumulative, monotonic, without `_total`
    gauges (queue, spool)   ─► otel_metrics_gauge
    export latency          ─► otel_metrics_histogram (`..._export_duration_seconds`)

The points are built as an OTLP metrics request and decoded by the receivers'
own translator, so their rows are exactly those any OTLP sender would get.

They go straight to the store, not through the receivers and queue: a full queue
would refuse the very report of why it is full, and a storage outage would fill
the spool with reports about the outage. So a round whose write fails is skipped
and counted (`..._self_metrics_failed_rounds_total`), a round that finds the
previous write still hanging is skipped and counted (`..._busy_rounds_total`);
nothing waits for storage and nothing is spooled. Counters are cumulative, so
the next round that lands carries the whole count on. Writing makes no spans
(STYLE 7): the write runs under `suppress_self_tracing`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
)

from collector.admin import METRICS
from collector.background import cancel_and_wait
from collector.config import CollectorConfigError, SelfMetricsConfig
from collector.exporters.export_latency import ExportLatency
from collector.pipeline import new_token
from collector.self_tracing import suppress_self_tracing
from collector.translate.otlp_metrics import decode_metrics_request
from collector.translate.validation import strict
from storage.metrics_model import MetricColumns

log = logging.getLogger(__name__)

SERVICE_NAME = "meshlens-collector"
SCOPE_NAME = "meshlens.collector.self_metrics"
EXPORT_LATENCY_METRIC = "meshlens_collector_export_duration_seconds"
# The Prometheus summary of the same latency: in storage the histogram stands for it.
_SUMMARY_PARTS = (f"{EXPORT_LATENCY_METRIC}_sum", f"{EXPORT_LATENCY_METRIC}_count")
# How long stop() lets a write in progress finish before leaving it behind.
STOP_WAIT_S = 5.0

_CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
_KINDS: dict[str, tuple[str, str]] = {name: (kind, text) for name, kind, text in METRICS}


class MetricWriter(Protocol):
    """The part of `storage.Store` self-metrics need."""

    def write_metrics(self, batch: MetricColumns, *, dedup_token: str | None = None) -> None: ...


@dataclass(slots=True)
class SelfMetricsStats:
    written_rounds: int = 0
    failed_rounds: int = 0  # skipped: the write raised (storage down)
    busy_rounds: int = 0  # skipped: the previous round's write had not returned

    def telemetry(self) -> dict[str, float]:
        """For `Collector.telemetry()`: by Prometheus name, less `meshlens_collector_`."""
        return {
            "self_metrics_written_rounds_total": self.written_rounds,
            "self_metrics_failed_rounds_total": self.failed_rounds,
            "self_metrics_busy_rounds_total": self.busy_rounds,
        }


def default_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _unit(name: str) -> str:
    if name.endswith(("_bytes", "_bytes_total")):
        return "By"
    return "s" if "_seconds" in name else "1"


def self_metrics_request(
    snapshot: Mapping[str, float],
    latency: ExportLatency,
    *,
    instance_id: str,
    start_ns: int,
    time_ns: int,
) -> ExportMetricsServiceRequest:
    """The snapshot as one OTLP metrics request: sums, gauges and the latency histogram.

    A name is a counter (a cumulative monotonic sum, stored without `_total`, as
    OpenTelemetry names what Prometheus calls `x_total`) or a gauge as `admin.METRICS`
    says; a name it does not know is a counter when it ends in `_total`.
    """
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(
        KeyValue(key=key, value=AnyValue(string_value=value))
        for key, value in (("service.name", SERVICE_NAME), ("service.instance.id", instance_id))
    )
    scope_metrics = resource_metrics.scope_metrics.add()
    scope_metrics.scope.name = SCOPE_NAME
    metrics = scope_metrics.metrics
    for name, value in snapshot.items():
        if name in _SUMMARY_PARTS:
            continue
        kind, text = _KINDS.get(name, ("counter" if name.endswith("_total") else "gauge", ""))
        point = NumberDataPoint(
            start_time_unix_nano=start_ns, time_unix_nano=time_ns, as_double=float(value)
        )
        if kind == "counter":
            metric = Metric(name=name.removesuffix("_total"), description=text, unit=_unit(name))
            metric.sum.aggregation_temporality = _CUMULATIVE
            metric.sum.is_monotonic = True
            metric.sum.data_points.append(point)
        else:
            metric = Metric(name=name, description=text, unit=_unit(name))
            metric.gauge.data_points.append(point)
        metrics.append(metric)
    histogram = Metric(
        name=EXPORT_LATENCY_METRIC, description="Time spent writing batches.", unit="s"
    )
    histogram.histogram.aggregation_temporality = _CUMULATIVE
    histogram_point = HistogramDataPoint(
        start_time_unix_nano=start_ns, time_unix_nano=time_ns, count=latency.count,
        sum=latency.sum, bucket_counts=latency.bucket_counts, explicit_bounds=latency.bounds,
    )  # fmt: skip
    if latency.count:  # no extremes before the first push
        histogram_point.min, histogram_point.max = latency.min, latency.max
    histogram.histogram.data_points.append(histogram_point)
    metrics.append(histogram)
    return request


def self_metric_rows(
    snapshot: Mapping[str, float],
    latency: ExportLatency,
    *,
    instance_id: str,
    start_ns: int,
    time_ns: int,
) -> MetricColumns:
    """The snapshot as rows of the `otel_metrics_*` tables."""
    request = self_metrics_request(
        snapshot, latency, instance_id=instance_id, start_ns=start_ns, time_ns=time_ns
    )
    return strict(decode_metrics_request(request))


class SelfMetrics:
    """Writes a round of self-metrics to `writer` every `config.interval_s`.

    `clock` (monotonic seconds) and `sleep` are the collector's clock
    (`collector.testing.FakeClock` in tests); point times are the wall time at
    construction (`wall_clock_ns`) moved on by that clock, so they never go back.
    Counters start when the collector is built: that is the sums' start time.
    """

    def __init__(
        self,
        writer: MetricWriter,
        snapshot: Callable[[], Mapping[str, float]],
        export_latency: Callable[[], ExportLatency],
        config: SelfMetricsConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._config = config or SelfMetricsConfig()
        if problems := self._config.problems():
            raise CollectorConfigError(problems)
        self._writer = writer
        self._snapshot = snapshot
        self._export_latency = export_latency
        self._clock = clock
        self._sleep = sleep
        self.instance_id = self._config.instance_id or default_instance_id()
        self._start_ns = wall_clock_ns()
        self._started_at = clock()
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Task[bool] | None = None
        self._failing = False  # warn once per streak of skipped rounds
        self.stats = SelfMetricsStats()

    def now_ns(self) -> int:
        return self._start_ns + round((self._clock() - self._started_at) * 1e9)

    def rows(self) -> MetricColumns:
        """This moment's snapshot as metric rows."""
        return self_metric_rows(
            self._snapshot(), self._export_latency().copy(), instance_id=self.instance_id,
            start_ns=self._start_ns, time_ns=self.now_ns(),
        )  # fmt: skip

    async def start(self) -> None:
        """Write a round every `interval_s` from now on (nothing when it is 0)."""
        if self._task is None and self._config.enabled:
            self._task = asyncio.create_task(self._run(), name="collector-self-metrics")

    async def stop(self) -> None:
        """Stop the rounds; a write in progress gets STOP_WAIT_S. Safe before start, and twice."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._writing is not None and not self._writing.done():
            await asyncio.wait({self._writing}, timeout=STOP_WAIT_S)

    async def write_round(self) -> bool:
        """One round now (tests, or a final word); False if it was skipped, as counted."""
        writing = self._begin_round()
        return False if writing is None else await asyncio.shield(writing)

    async def _run(self) -> None:
        with suppress_self_tracing():
            while True:
                await self._sleep(self._config.interval_s)
                self._begin_round()  # never awaits the write: a hanging store stalls nothing

    def _begin_round(self) -> asyncio.Task[bool] | None:
        if self._writing is not None and not self._writing.done():
            self.stats.busy_rounds += 1
            self._skipped("the previous round's write has not returned")
            return None
        rows = self.rows()
        self._writing = asyncio.create_task(self._write(rows), name="collector-self-metrics-write")
        return self._writing

    async def _write(self, rows: MetricColumns) -> bool:
        try:
            # to_thread copies the context: the storage client sees the suppression.
            with suppress_self_tracing():
                await asyncio.to_thread(self._writer.write_metrics, rows, dedup_token=new_token())
        except Exception as exc:
            self.stats.failed_rounds += 1
            self._skipped(f"storage failed: {exc!r}")
            return False
        self.stats.written_rounds += 1
        if self._failing:
            log.info("self-metrics written again")
            self._failing = False
        return True

    def _skipped(self, why: str) -> None:
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "self-metrics round skipped (%d so far): %s", self._skipped_rounds, why)
        self._failing = True

    @property
    def _skipped_rounds(self) -> int:
        return self.stats.failed_rounds + self.stats.busy_rounds
