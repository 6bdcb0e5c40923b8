"""The two seams of the pipeline: what receivers hand spans to, what exporters are.

receivers ──try_put──► processors ──push──► exporters
"""

from __future__ import annotations

from typing import Protocol

from storage.model import SpanColumns


class SpanConsumer(Protocol):
    def try_put(self, batch: SpanColumns) -> bool:
        """Take `batch` without waiting, or return False when full (the client retries)."""
        ...


class SpanExporter(Protocol):
    async def push(self, batch: SpanColumns) -> None:
        """Deliver `batch` or raise; retries belong to the wrapper around exporters."""
        ...
