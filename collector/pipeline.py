"""The seams of the pipeline: what receivers hand spans to, what exporters are.

receivers ──try_put──► batch ──push(SpanColumns)──► span derivation (RED, service graph)
          ──push(ExportBatch)──► retry + spool ──push(ExportBatch)──► exporter
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from storage.model import SpanColumns
from storage.span_metrics_model import EdgeColumns, RedColumns


def new_token() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class ExportBatch:
    """Spans and what was derived from them, written together.

    `token` is the batch's insert deduplication token: it stays with the batch
    through retries, the spool and replays after a restart, so that storage keeps
    one copy whatever the number of attempts.
    """

    spans: SpanColumns = field(default_factory=SpanColumns)
    red: RedColumns = field(default_factory=RedColumns)
    edges: EdgeColumns = field(default_factory=EdgeColumns)
    token: str = field(default_factory=new_token)

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def empty(self) -> bool:
        return not (len(self.spans) or len(self.red) or len(self.edges))


class SpanConsumer(Protocol):
    def try_put(self, batch: SpanColumns, size_bytes: int = 0) -> bool:
        """Take `batch` (`size_bytes` as received) without waiting, or return False when
        full (the client retries)."""
        ...


class SpanExporter(Protocol):
    async def push(self, batch: SpanColumns) -> None:
        """Take a batch of spans or raise."""
        ...


class BatchExporter(Protocol):
    async def push(self, batch: ExportBatch) -> None:
        """Deliver `batch` or raise; retries belong to the wrapper around exporters."""
        ...
