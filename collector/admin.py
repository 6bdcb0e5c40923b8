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

# Counted for each signal in its items, as `meshlens_collector_<what>_<unit>_total`
# (the units of collector.pipeline.ItemCounts, the OpenTelemetry Collector's names).
ITEM_NOUNS = {"spans": "spans", "metric_points": "metric data points", "log_records": "log records"}
ITEM_COUNTERS = (
    ("accepted", "{} accepted with a 2xx."),
    ("refused", "{} refused (429, queue full)."),
    ("rejected", "{} left out of accepted requests as invalid (partial success)."),
    ("dropped", "accepted {} that were lost."),
    ("spooled", "{} written to the disk spool."),
    ("replayed", "{} replayed from the spool."),
    ("exported", "{} written to storage."),
)
ITEM_METRICS: tuple[tuple[str, str, str], ...] = tuple(
    (f"meshlens_collector_{what}_{unit}_total", "counter", text.format(noun).capitalize())
    for unit, noun in ITEM_NOUNS.items()
    for what, text in ITEM_COUNTERS
)

# (name, type, help); the value comes from the snapshot under the same name.
METRICS: tuple[tuple[str, str, str], ...] = (
    *ITEM_METRICS,
    ("meshlens_collector_queue_spans", "gauge",
     "Items (spans, metric points, log records) in the queue or being exported."),
    ("meshlens_collector_queue_bytes", "gauge", "Bytes (as received) in the queue."),
    ("meshlens_collector_spool_records", "gauge", "Batches waiting in the disk spool."),
    ("meshlens_collector_spool_bytes", "gauge", "Bytes in the disk spool."),
    ("meshlens_collector_spool_corrupt_total", "counter", "Spool records set aside as corrupt."),
    ("meshlens_collector_pairing_entries", "gauge", "Spans waiting for their other half."),
    ("meshlens_collector_paired_spans_total", "counter", "Client/server span pairs joined."),
    ("meshlens_collector_unpaired_spans_total", "counter", "Spans whose other half never came."),
    ("meshlens_collector_sampling_waiting_traces", "gauge", "Traces waiting for a decision."),
    ("meshlens_collector_sampling_kept_traces_total", "counter", "Traces kept by tail sampling."),
    ("meshlens_collector_sampling_dropped_traces_total", "counter", "Traces sampled out."),
    ("meshlens_collector_sampling_kept_spans_total", "counter", "Spans of kept traces."),
    ("meshlens_collector_sampling_dropped_spans_total", "counter",
     "Spans sampled out (on purpose: RED and the service graph still count them)."),
    ("meshlens_collector_sampling_early_decisions_total", "counter",
     "Traces decided before their wait because the most traces were waiting."),
    ("meshlens_collector_sampling_late_spans_total", "counter",
     "Spans that came after their trace's decision and followed it."),
    ("meshlens_collector_self_metrics_written_rounds_total", "counter",
     "Rounds of self-metrics written to storage."),
    ("meshlens_collector_self_metrics_failed_rounds_total", "counter",
     "Rounds of self-metrics skipped because storage failed."),
    ("meshlens_collector_self_metrics_busy_rounds_total", "counter",
     "Rounds of self-metrics skipped because the previous write had not returned."),
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
