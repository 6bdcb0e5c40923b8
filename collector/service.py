"""Collector: the OTLP receivers, the batch processor, span derivation and the exporter.

    exporter = ClickHouseExporter(store)
    collector = Collector(CollectorConfig(http_port=0, grpc_port=0), exporter)
    await collector.start()
    ...  # collector.http_port, collector.grpc_port are the bound ports
    await collector.stop()  # stops receiving, then drains the queue to the exporter

    receivers ─► BatchProcessor ─► DerivedSignals (RED, service graph)
              ─► SpoolingExporter (retries, disk spool, replay) ─► exporter

The exporter only pushes (STYLE 6); the SpoolingExporter around it is the
shared helper that retries and spools, as the Collector's exporter helper does.
"""

from __future__ import annotations

import logging
from typing import Any

from collector.admin import AdminServer
from collector.config import CollectorConfig
from collector.exporters.spool import DiskSpool
from collector.exporters.spooling import SpoolingExporter
from collector.pipeline import BatchExporter
from collector.processors.batch import BatchProcessor, BatchStats
from collector.processors.derived_signals import DerivedSignals
from collector.receivers.otlp_grpc import OtlpGrpcReceiver
from collector.receivers.otlp_http import OtlpHttpReceiver

log = logging.getLogger(__name__)


class Collector:
    def __init__(self, config: CollectorConfig, exporter: BatchExporter) -> None:
        self.config = config
        spool = (
            DiskSpool(config.spool_dir, max_bytes=config.spool_max_bytes)
            if config.spool_dir
            else None
        )
        self._exporter = SpoolingExporter(exporter, config.retry, spool)
        self._derived = DerivedSignals(
            self._exporter,
            span_metrics=config.span_metrics,
            service_graph=config.service_graph,
            pairing_wait_s=config.pairing_wait_s,
            pairing_max_entries=config.pairing_max_entries,
        )
        self._processor = BatchProcessor(
            self._derived,
            queue_spans=config.queue_spans,
            queue_bytes=config.queue_bytes,
            batch_spans=config.batch_spans,
            batch_timeout_s=config.batch_timeout_s,
            drain_timeout_s=config.drain_timeout_s,
        )
        receiver_options: dict[str, Any] = {
            "host": config.host,
            "retry_after_s": config.retry_after_s,
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

    def telemetry(self) -> dict[str, float]:
        """The collector's own counters and gauges, by Prometheus metric name."""
        batch, export = self._processor.stats, self._exporter.stats
        prefix = "meshlens_collector_"
        values: dict[str, float] = {
            "accepted_spans_total": batch.accepted_spans,
            "refused_spans_total": batch.refused_spans,
            "dropped_spans_total": batch.dropped_spans,
            "spooled_spans_total": export.spooled_spans,
            "replayed_spans_total": export.replayed_spans,
            "exported_spans_total": export.exported_spans,
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
        return {prefix + name: value for name, value in values.items()}

    async def start(self) -> None:
        if self._started:
            return
        try:
            await self._exporter.start()
            await self._derived.start()
            await self._processor.start()
            await self._grpc.start()
            await self._http.start()
            if self._admin is not None:
                await self._admin.start()
        except BaseException:
            await self._stop_parts()
            raise
        self._started = True

    async def stop(self) -> None:
        """Stop receiving, then export what is still queued. Safe before start, and twice."""
        self._started = False
        await self._stop_parts()

    async def _stop_parts(self) -> None:
        # Receivers first, so that nothing arrives while the queue drains.
        await self._http.stop()
        await self._grpc.stop()
        await self._processor.stop()
        await self._derived.stop()
        await self._exporter.stop()
        if self._admin is not None:
            await self._admin.stop()
