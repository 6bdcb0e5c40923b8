"""Where each signal goes once out of the queue.

Spans go to the span stages (RED and service graph derivation, then tail
sampling when on); metric points and log records have no such stage and go
straight to the spooling exporter, each batch as an `ExportBatch` of its own, so
that they are retried, spooled and replayed like spans.
"""

from __future__ import annotations

from collector.pipeline import BatchExporter, ExportBatch, SignalBatch, SpanExporter
from collector.translate.passthrough_batch import PassthroughSpans
from storage.metrics_model import MetricColumns
from storage.model import SpanColumns


class SignalRouter:
    def __init__(self, spans: SpanExporter, exporter: BatchExporter) -> None:
        self._spans = spans
        self._exporter = exporter

    async def push(self, batch: SignalBatch) -> None:
        if isinstance(batch, SpanColumns | PassthroughSpans):
            await self._spans.push(batch)
        elif isinstance(batch, MetricColumns):
            await self._exporter.push(ExportBatch(metrics=batch))
        else:
            await self._exporter.push(ExportBatch(logs=batch))
