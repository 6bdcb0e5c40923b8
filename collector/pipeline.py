"""The seams of the pipeline: what receivers hand batches to, what exporters are.

receivers ──try_put──► batch ─┬─push(SpanColumns)──► span derivation (RED, service graph)
                              │     ──push(ExportBatch)──► retry + spool ──push──► exporter
                              └─push(MetricColumns | LogColumns), as an ExportBatch ──┘

Every signal shares the one queue (the receivers' `SpanConsumer`, named for the
signal it first served); its items are spans, metric data points and log
records, counted per signal in `ItemCounts` under these names.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from collector.translate.passthrough_batch import PassthroughSpans
from storage.logs_model import LogColumns
from storage.metrics_model import MetricColumns
from storage.model import SpanColumns
from storage.span_metrics_model import EdgeColumns, RedColumns

# What receivers put in the queue: one decoded request of one signal (trace
# requests that ClickHouse decodes itself stay undecoded: PassthroughSpans).
SignalBatch = SpanColumns | PassthroughSpans | MetricColumns | LogColumns

# Item units, one per signal, as ItemCounts names them.
ITEM_UNITS = ("spans", "metric_points", "log_records")


def new_token() -> str:
    return uuid.uuid4().hex


def unit_of(batch: SignalBatch) -> str:
    """The item unit of a batch's signal: "spans", "metric_points" or "log_records"."""
    if isinstance(batch, SpanColumns | PassthroughSpans):
        return "spans"
    if isinstance(batch, MetricColumns):
        return "metric_points"
    return "log_records"


@dataclass(slots=True)
class ItemCounts:
    """A count per signal, in its items."""

    spans: int = 0
    metric_points: int = 0
    log_records: int = 0

    def add(self, unit: str, items: int) -> None:
        setattr(self, unit, getattr(self, unit) + items)

    def add_all(self, other: ItemCounts) -> None:
        for unit in ITEM_UNITS:
            self.add(unit, getattr(other, unit))

    @property
    def total(self) -> int:
        return self.spans + self.metric_points + self.log_records


@dataclass(slots=True)
class ExportBatch:
    """Spans and what was derived from them, or metric points, or logs, written together.

    `token` is the batch's insert deduplication token: it stays with the batch
    through retries, the spool and replays after a restart, so that storage keeps
    one copy whatever the number of attempts.
    """

    spans: SpanColumns = field(default_factory=SpanColumns)
    red: RedColumns = field(default_factory=RedColumns)
    edges: EdgeColumns = field(default_factory=EdgeColumns)
    token: str = field(default_factory=new_token)
    metrics: MetricColumns = field(default_factory=MetricColumns)
    logs: LogColumns = field(default_factory=LogColumns)
    # Spans as OTLP protobuf trace requests, for ClickHouse to decode
    # (collector/translate/otlp_passthrough.py), and how many spans they hold.
    otlp: list[bytes] = field(default_factory=list)
    otlp_spans: int = 0

    def __len__(self) -> int:
        """Items of every signal: spans, metric points, log records."""
        return len(self.spans) + self.otlp_spans + len(self.metrics) + len(self.logs)

    def counts(self) -> ItemCounts:
        return ItemCounts(len(self.spans) + self.otlp_spans, len(self.metrics), len(self.logs))

    @property
    def empty(self) -> bool:
        return not (len(self) or len(self.red) or len(self.edges))


class SpanConsumer(Protocol):
    def try_put(self, batch: SignalBatch, size_bytes: int = 0, rejected: int = 0) -> bool:
        """Take `batch` (`size_bytes` as received) without waiting, or return False when
        full (the client retries). `rejected`: items of the same request left out as
        invalid (partial success), counted once the request is taken."""
        ...


class SpanExporter(Protocol):
    async def push(self, batch: SpanColumns | PassthroughSpans) -> None:
        """Take a batch of spans (decoded, or requests passed through) or raise."""
        ...


class SignalExporter(Protocol):
    async def push(self, batch: SignalBatch) -> None:
        """Take a batch of any signal, as the batch processor hands it on, or raise."""
        ...


class BatchExporter(Protocol):
    async def push(self, batch: ExportBatch) -> None:
        """Deliver `batch` or raise; retries belong to the wrapper around exporters."""
        ...
