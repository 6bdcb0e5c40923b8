"""Collector: the OTLP receivers, the batch processor and an exporter, wired up.

    exporter = ClickHouseExporter(store)
    collector = Collector(CollectorConfig(http_port=0, grpc_port=0), exporter)
    await collector.start()
    ...  # collector.http_port, collector.grpc_port are the bound ports
    await collector.stop()  # stops receiving, then drains the queue to the exporter

The exporter is wrapped in `RetryingExporter` (config.retry), as the
Collector's exporter helper wraps every exporter.
"""

from __future__ import annotations

import logging

from collector.config import CollectorConfig
from collector.exporters.retrying import RetryingExporter
from collector.pipeline import SpanExporter
from collector.processors.batch import BatchProcessor, BatchStats
from collector.receivers.otlp_grpc import OtlpGrpcReceiver
from collector.receivers.otlp_http import OtlpHttpReceiver

log = logging.getLogger(__name__)


class Collector:
    def __init__(self, config: CollectorConfig, exporter: SpanExporter) -> None:
        self.config = config
        self._processor = BatchProcessor(
            RetryingExporter(exporter, config.retry),
            queue_spans=config.queue_spans,
            batch_spans=config.batch_spans,
            batch_timeout_s=config.batch_timeout_s,
            drain_timeout_s=config.drain_timeout_s,
        )
        self._grpc = OtlpGrpcReceiver(
            self._processor,
            host=config.host,
            port=config.grpc_port,
            max_message_bytes=config.max_body_bytes,
            retry_after_s=config.retry_after_s,
        )
        self._http = OtlpHttpReceiver(
            self._processor,
            host=config.host,
            port=config.http_port,
            max_body_bytes=config.max_body_bytes,
            retry_after_s=config.retry_after_s,
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
    def stats(self) -> BatchStats:
        return self._processor.stats

    async def start(self) -> None:
        if self._started:
            return
        await self._processor.start()
        try:
            await self._grpc.start()
            await self._http.start()
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
