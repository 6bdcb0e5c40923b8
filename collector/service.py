"""Collector: the OTLP receivers (traces, metrics, logs), the batch processor, span
derivation and the exporter.

    exporter = ClickHouseExporter(store)
    collector = Collector(CollectorConfig(http_port=0, grpc_port=0), exporter)
    await collector.start()
    ...  # collector.http_port, collector.grpc_port are the bound ports
    await collector.stop()  # stops receiving, then drains the queue to the exporter

    receivers ─► BatchProcessor ─► SignalRouter
                   spans ─► DerivedSignals (RED, service graph)
                         [─► TailSamplingProcessor (only what goes to otel_traces)]
                         ─► SpoolingExporter (retries, disk spool, replay) ─► exporter
        metric points, logs ─► SpoolingExporter ─► exporter

Tail sampling, when on, stands after span derivation so that RED rates and the
service graph are computed from every span, sampled or not.

When the exporter says so (`ClickHouseExporter.otlp_passthrough`) and tail
sampling is off, protobuf trace requests are not decoded in Python: receivers
read only their span facts and storage decodes them
(collector/translate/otlp_passthrough.py). Sampling needs every span decoded.

The exporter only pushes (STYLE 6); the SpoolingExporter around it is the
shared helper that retries and spools, as the Collector's exporter helper does.

Self-metrics (collector/self_metrics.py) bypass all of this: every
`config.self_metrics.interval_s` they go straight to the store, so that a full
queue or a storage outage does not feed back into itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from collector.admin import AdminServer
from collector.config import CollectorConfig
from collector.exporters.clickhouse import ClickHouseExporter
from collector.exporters.spool import DiskSpool
from collector.exporters.spooling import SpoolingExporter
from collector.pipeline import ITEM_UNITS, BatchExporter
from collector.processors.batch import BatchProcessor, BatchStats
from collector.processors.derived_signals import DerivedSignals
from collector.processors.routing import SignalRouter
from collector.processors.tail_sampling import TailSamplingProcessor
from collector.receivers.otlp_grpc import OtlpGrpcReceiver
from collector.receivers.otlp_http import OtlpHttpReceiver
from collector.receivers.otlp_signals import SIGNALS, TRACES, OtlpSignal
from collector.receivers.tls import load_server_tls
from collector.self_metrics import MetricWriter, SelfMetrics
from collector.translate.otlp_passthrough import decode_traces_passthrough

log = logging.getLogger(__name__)


class Collector:
    def __init__(
        self,
        config: CollectorConfig,
        exporter: BatchExporter,
        *,
        self_metrics_store: MetricWriter | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Raises CollectorConfigError if the TLS files are missing or invalid.

        Self-metrics (`config.self_metrics`) are written to `self_metrics_store`, by
        default the store of a ClickHouseExporter; with neither, none are written.
        `clock` and `sleep` time their rounds (tests pass a `testing.FakeClock`).
        """
        self.config = config
        tls = load_server_tls(config.tls) if config.tls is not None else None
        spool = (
            DiskSpool(config.spool_dir, max_bytes=config.spool_max_bytes)
            if config.spool_dir
            else None
        )
        self._exporter = SpoolingExporter(exporter, config.retry, spool)
        self._sampling = (
            TailSamplingProcessor(self._exporter, config.tail_sampling)
            if config.tail_sampling.enabled
            else None
        )
        self._derived = DerivedSignals(
            self._sampling or self._exporter,
            span_metrics=config.span_metrics,
            service_graph=config.service_graph,
            pairing_wait_s=config.pairing_wait_s,
            pairing_max_entries=config.pairing_max_entries,
        )
        self._processor = BatchProcessor(
            SignalRouter(self._derived, self._exporter),  # metrics and logs skip span stages
            queue_spans=config.queue_spans,
            queue_bytes=config.queue_bytes,
            batch_spans=config.batch_spans,
            batch_max_spans=config.export_batch_max_spans,
            batch_timeout_s=config.batch_timeout_s,
            drain_timeout_s=config.drain_timeout_s,
        )
        self.otlp_passthrough = (
            getattr(exporter, "otlp_passthrough", False) is True
            and not config.tail_sampling.enabled
        )
        receiver_options: dict[str, Any] = {
            "host": config.host,
            "retry_after_s": config.retry_after_s,
            "tls": tls,
            "signals": _passing_traces_through() if self.otlp_passthrough else SIGNALS,
        }
        self._grpc = OtlpGrpcReceiver(
            self._processor,
            port=config.grpc_port,
            max_message_bytes=config.max_body_bytes,
            **receiver_options,
        )
        self._http = OtlpHttpReceiver(
            self._processor,
            port=config.http_port,
            max_body_bytes=config.max_body_bytes,
            **receiver_options,
        )
        self._admin = (
            AdminServer(self.telemetry, host=config.host, port=config.admin_port)
            if config.admin_port is not None
            else None
        )
        self._self_metrics = _self_metrics(
            self, self_metrics_store or _store_of(exporter), clock=clock, sleep=sleep
        )
        self._started = False

    @property
    def http_port(self) -> int:
        """The OTLP/HTTP port actually bound (config port 0 picks one)."""
        return self._http.port

    @property
    def grpc_port(self) -> int:
        """The OTLP/gRPC port actually bound (config port 0 picks one)."""
        return self._grpc.port

    @property
    def admin_port(self) -> int:
        if self._admin is None:
            raise RuntimeError("the collector has no admin server (config.admin_port is None)")
        return self._admin.port

    @property
    def stats(self) -> BatchStats:
        return self._processor.stats

    @property
    def exporter(self) -> SpoolingExporter:
        return self._exporter

    @property
    def sampling(self) -> TailSamplingProcessor | None:
        """The tail sampling stage, None when `config.tail_sampling.enabled` is off."""
        return self._sampling

    @property
    def self_metrics(self) -> SelfMetrics | None:
        """The self-metrics writer; None when off or when there is no store to write to."""
        return self._self_metrics

    def telemetry(self) -> dict[str, float]:
        """The collector's own counters and gauges, by Prometheus metric name."""
        batch, export = self._processor.stats, self._exporter.stats
        prefix = "meshlens_collector_"
        values: dict[str, float] = {
            f"{what}_{unit}_total": getattr(counts, unit)
            for unit in ITEM_UNITS
            for what, counts in (
                ("accepted", batch.accepted), ("refused", batch.refused),
                ("rejected", batch.rejected), ("dropped", batch.dropped),
                ("spooled", export.spooled), ("replayed", export.replayed),
                ("exported", export.exported),
            )
        }  # fmt: skip
        values |= {
            "queue_spans": self._processor.queued_spans,
            "queue_bytes": self._processor.queued_bytes,
            "export_duration_seconds_sum": export.export_seconds_sum,
            "export_duration_seconds_count": export.export_count,
        }
        if (spool := self._exporter.spool) is not None:
            values["spool_records"] = spool.stats.records
            values["spool_bytes"] = spool.stats.bytes
            values["spool_corrupt_total"] = spool.stats.corrupt
        if (graph := self._derived.graph) is not None:
            values["pairing_entries"] = graph.entries
            values["paired_spans_total"] = graph.stats.paired
            values["unpaired_spans_total"] = (
                graph.stats.unpaired_clients + graph.stats.unpaired_servers
            )
        if (sampling := self._sampling) is not None:
            sampled = sampling.stats
            values["dropped_spans_total"] += sampled.lost_spans
            values["sampling_waiting_traces"] = sampling.sampler.waiting_traces
            values["sampling_kept_traces_total"] = sampled.kept_traces
            values["sampling_dropped_traces_total"] = sampled.dropped_traces
            values["sampling_kept_spans_total"] = sampled.kept_spans
            values["sampling_dropped_spans_total"] = sampled.dropped_spans
            values["sampling_early_decisions_total"] = sampled.early_decisions
            values["sampling_late_spans_total"] = sampled.late_spans
        if self._self_metrics is not None:
            values |= self._self_metrics.stats.telemetry()
        return {prefix + name: value for name, value in values.items()}

    async def start(self) -> None:
        if self._started:
            return
        try:
            await self._exporter.start()
            if self._sampling is not None:
                await self._sampling.start()
            await self._derived.start()
            await self._processor.start()
            await self._grpc.start()
            await self._http.start()
            if self._admin is not None:
                await self._admin.start()
            if self._self_metrics is not None:
                await self._self_metrics.start()
        except BaseException:
            await self._stop_parts()
            raise
        self._started = True

    async def stop(self) -> None:
        """Stop receiving, then export what is still queued. Safe before start, and twice."""
        self._started = False
        await self._stop_parts()

    async def _stop_parts(self) -> None:
        if self._self_metrics is not None:  # first: no round races the drain
            await self._self_metrics.stop()
        # Receivers first, so that nothing arrives while the queue drains.
        await self._http.stop()
        await self._grpc.stop()
        await self._processor.stop()
        await self._derived.stop()
        if self._sampling is not None:  # after derived: its last rows come through here
            await self._sampling.stop()
        await self._exporter.stop()
        if self._admin is not None:
            await self._admin.stop()


def _store_of(exporter: BatchExporter) -> MetricWriter | None:
    return exporter.store if isinstance(exporter, ClickHouseExporter) else None


def _self_metrics(
    collector: Collector,
    writer: MetricWriter | None,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> SelfMetrics | None:
    """Written straight to the store, never through the pipeline (collector/self_metrics.py)."""
    if writer is None or not collector.config.self_metrics.enabled:
        return None
    return SelfMetrics(
        writer, collector.telemetry, lambda: collector.exporter.stats.export_latency,
        collector.config.self_metrics, clock=clock, sleep=sleep,
    )  # fmt: skip


def _passing_traces_through() -> tuple[OtlpSignal, ...]:
    """The signals, with protobuf trace requests passed through to storage undecoded."""
    return tuple(
        dataclasses.replace(s, decode_protobuf=decode_traces_passthrough) if s is TRACES else s
        for s in SIGNALS
    )
