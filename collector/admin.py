"""The collector's own telemetry as Prometheus text on an admin port (`GET /metrics`).

Counters come from the parts that count them (batch processor, spooling
exporter, pairing); this only renders them. Serving them makes no spans: the
pipeline does not trace itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from collector.http_listener import HttpListener

log = logging.getLogger(__name__)

# (name, type, help); the value comes from the snapshot under the same name.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("meshlens_collector_accepted_spans_total", "counter", "Spans accepted with a 2xx."),
    ("meshlens_collector_refused_spans_total", "counter", "Spans refused (429, queue full)."),
    ("meshlens_collector_dropped_spans_total", "counter", "Accepted spans that were lost."),
    ("meshlens_collector_spooled_spans_total", "counter", "Spans written to the disk spool."),
    ("meshlens_collector_replayed_spans_total", "counter", "Spans replayed from the spool."),
    ("meshlens_collector_exported_spans_total", "counter", "Spans written to storage."),
    ("meshlens_collector_queue_spans", "gauge", "Spans in the queue or being exported."),
    ("meshlens_collector_queue_bytes", "gauge", "Bytes (as received) in the queue."),
    ("meshlens_collector_spool_records", "gauge", "Batches waiting in the disk spool."),
    ("meshlens_collector_spool_bytes", "gauge", "Bytes in the disk spool."),
    ("meshlens_collector_spool_corrupt_total", "counter", "Spool records set aside as corrupt."),
    ("meshlens_collector_pairing_entries", "gauge", "Spans waiting for their other half."),
    ("meshlens_collector_paired_spans_total", "counter", "Client/server span pairs joined."),
    ("meshlens_collector_unpaired_spans_total", "counter", "Spans whose other half never came."),
    ("meshlens_collector_export_duration_seconds_sum", "counter", "Time spent writing batches."),
    ("meshlens_collector_export_duration_seconds_count", "counter", "Batch writes measured."),
)


def render(snapshot: dict[str, float]) -> str:
    lines: list[str] = []
    for name, kind, help_text in METRICS:
        if name not in snapshot:
            continue
        base = name.removesuffix("_sum").removesuffix("_count")
        if not name.endswith("_count"):
            lines.append(f"# HELP {base} {help_text}")
            lines.append(f"# TYPE {base} {'summary' if base != name else kind}")
        value = snapshot[name]
        lines.append(f"{name} {int(value) if float(value).is_integer() else value}")
    return "\n".join(lines) + "\n"


class AdminServer:
    def __init__(self, snapshot: Callable[[], dict[str, float]], *, host: str, port: int) -> None:
        self._snapshot = snapshot
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._listener = HttpListener("collector admin server", app, host=host, port=port)

    @property
    def port(self) -> int:
        return self._listener.port

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            text=render(self._snapshot()), content_type="text/plain", charset="utf-8"
        )
