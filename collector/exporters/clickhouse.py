"""ClickHouseExporter: pushes span batches into MeshLens storage.

`Store.write_spans` is synchronous (clickhouse-connect, chdb), so it runs in a
worker thread to keep the event loop serving receivers meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from collector.self_tracing import suppress_self_tracing
from storage.model import SpanColumns


class SpanWriter(Protocol):
    """The part of `storage.Store` this exporter needs."""

    def write_spans(self, batch: SpanColumns) -> None: ...


class ClickHouseExporter:
    def __init__(self, store: SpanWriter) -> None:
        self._store = store

    async def push(self, batch: SpanColumns) -> None:
        if not len(batch):
            return
        # to_thread copies the context, so the storage client in the worker thread
        # sees the suppression too.
        with suppress_self_tracing():
            await asyncio.to_thread(self._store.write_spans, batch)
