"""Batch export of hop records off the request path, in one background thread.

Every ``export_interval`` the thread drains the span queue and pushes it: as an
OTLP/HTTP protobuf ``ExportTraceServiceRequest`` built directly from the records
(to ``<otlp_endpoint>/v1/traces``), or to an injected SDK ``SpanExporter`` as
ReadableSpans. Every ``metrics_interval`` it posts the RED snapshot to
``/v1/metrics``. Failures are counted and logged, never raised: telemetry must
not affect traffic. Export requests are not traced (the pipeline does not trace
itself): the proxy instruments nothing but its listeners.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.export import SpanExporter

from proxy.config import SidecarConfig
from proxy.metrics.otlp import encode_metrics
from proxy.otlp_wire import encode_spans

if TYPE_CHECKING:
    from proxy.telemetry import Telemetry

log = logging.getLogger(__name__)
MAX_BATCH = 1024


def resource_attributes(config: SidecarConfig) -> dict[str, str]:
    return {"service.name": config.service, "service.version": config.version,
            "service.namespace": config.namespace, "meshlens.component": "proxy"}


class ExportWorker:
    """The thread that encodes and pushes; ``flush`` and ``stop`` block (call off the loop)."""

    def __init__(self, telemetry: Telemetry, config: SidecarConfig,
                 span_exporter: SpanExporter | None, export_interval: float,
                 metrics_interval: float) -> None:
        self._telemetry = telemetry
        self._resource = resource_attributes(config)
        self._exporter = span_exporter
        self._endpoint = config.otlp_endpoint.rstrip("/")
        self._interval, self._metrics_interval = export_interval, metrics_interval
        self._wake = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()  # one export at a time: the thread or a flush
        self._thread = threading.Thread(target=self._run, name="meshlens-export", daemon=True)
        self._session: object | None = None
        self.failures = 0
        self.exported_spans = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        next_metrics = time.monotonic() + self._metrics_interval
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._lock:
                self._export_spans()
                if self._exporter is None and time.monotonic() >= next_metrics:
                    next_metrics = time.monotonic() + self._metrics_interval
                    self._export_metrics()

    def flush(self, timeout: float = 5.0) -> bool:
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            self._export_spans()
            return True
        finally:
            self._lock.release()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        with self._lock:
            self._export_spans()
            if self._exporter is None:
                self._export_metrics()
            else:
                self._exporter.shutdown()

    def _export_spans(self) -> None:
        queue = self._telemetry.spans
        while queue:
            batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
            try:
                if self._exporter is not None:
                    from proxy.sdk_spans import to_readable_spans

                    self._exporter.export(to_readable_spans(batch, self._resource))
                else:
                    self._post("/v1/traces", encode_spans(batch, self._resource))
                self.exported_spans += len(batch)
            except Exception as error:  # never let export break the thread
                self.failures += 1
                log.warning("span export failed (%d spans dropped): %s", len(batch), error)

    def _export_metrics(self) -> None:
        try:
            self._post("/v1/metrics", encode_metrics(self._telemetry.red.snapshot(),
                                                     self._resource))
        except Exception as error:
            self.failures += 1
            log.debug("metric export failed: %s", error)

    def _post(self, path: str, body: bytes) -> None:
        import requests

        if self._session is None:
            self._session = requests.Session()
        session: requests.Session = self._session  # type: ignore[assignment]
        response = session.post(f"{self._endpoint}{path}", data=body, timeout=5,
                                headers={"Content-Type": "application/x-protobuf"})
        if response.status_code >= 300:
            raise OSError(f"{path}: HTTP {response.status_code}")
