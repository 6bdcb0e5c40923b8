"""Batch export of hop records off the request path, on the event loop in slices.

Every ``export_interval``, or as soon as a full batch is queued, a task drains the
span queue and pushes it: as an OTLP/HTTP protobuf ``ExportTraceServiceRequest``
built directly from the records (to ``<otlp_endpoint>/v1/traces``), or to an
injected SDK ``SpanExporter`` as ReadableSpans. Every ``metrics_interval`` it
posts the RED snapshot to ``/v1/metrics``. Failures are counted and logged,
never raised: telemetry must not affect traffic.

Why not a thread: a Python thread that encodes holds the GIL for up to the
switch interval (5 ms) each time the loop wants it back, and the loop gives it
up at every poll, so a second of spans encoded in a thread showed as 5-50 ms
stalls in the request-latency tail. On the loop, encoding runs ``SLICE_SPANS``
spans at a time and yields between slices: a request waits at most one slice
(~0.1 ms), and the post is non-blocking I/O (:mod:`proxy.otlp_http`). An SDK
exporter may block (it does its own I/O), so only its ``export`` call runs in a
worker thread, with records already converted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from opentelemetry.sdk.trace.export import SpanExporter

from proxy.config import SidecarConfig
from proxy.metrics.otlp import encode_metrics
from proxy.otlp_http import OtlpHttpClient
from proxy.otlp_wire import encode_span_fields, export_request
from proxy.telemetry import EXPORT_BATCH, Hop, Telemetry

log = logging.getLogger(__name__)
MAX_BATCH = EXPORT_BATCH  # spans per export request; a full batch queued starts an export
SLICE_SPANS = 32  # spans encoded between two turns of the event loop (~0.1 ms)


def resource_attributes(config: SidecarConfig) -> dict[str, str]:
    return {"service.name": config.service, "service.version": config.version,
            "service.namespace": config.namespace, "meshlens.component": "proxy"}


class ExportWorker:
    """The export task of one sidecar: ``start``, ``flush`` and ``stop`` on the loop."""

    def __init__(self, telemetry: Telemetry, config: SidecarConfig,
                 span_exporter: SpanExporter | None, export_interval: float,
                 metrics_interval: float) -> None:
        self._telemetry = telemetry
        self._resource = resource_attributes(config)
        self._exporter = span_exporter
        self._sdk_resource: object | None = None  # made once, for the SDK exporter
        self._client = OtlpHttpClient(config.otlp_endpoint) if span_exporter is None else None
        self._interval, self._metrics_interval = export_interval, metrics_interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None  # resolved: export now
        self._lock: asyncio.Lock | None = None  # one export at a time: the task or a flush
        self._stopping = False
        self.failures = 0
        self.exported_spans = 0

    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        self._stopping = False
        self._task = self._loop.create_task(self._run(), name="meshlens-export")

    def wake(self) -> None:
        """Export now rather than at the next interval (a full batch is queued)."""
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_metrics = loop.time() + self._metrics_interval
        while not self._stopping:
            if len(self._telemetry.spans) < MAX_BATCH:  # else a batch filled while exporting
                self._wake = wake = loop.create_future()
                timer = loop.call_later(self._interval, _resolve, wake)
                try:
                    await wake
                finally:
                    timer.cancel()
                    self._wake = None
            if self._stopping:
                return
            assert self._lock is not None
            async with self._lock:
                await self._export_spans()
                if self._exporter is None and loop.time() >= next_metrics:
                    next_metrics = loop.time() + self._metrics_interval
                    await self._export_metrics()

    async def flush(self) -> None:
        """Export what is queued now."""
        if self._lock is None:
            await self._export_spans()
            return
        async with self._lock:
            await self._export_spans()

    def flush_from_thread(self, timeout: float) -> bool:
        """:meth:`flush` for a caller in another thread (blocks it); False on timeout."""
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return True
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("on the event loop: await Telemetry.flush() instead")
        future = asyncio.run_coroutine_threadsafe(self.flush(), loop)
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Finish the export in progress, push what is queued (and the metrics), close;
        a no-op unless started (so safe twice), and ``start`` may follow."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self.wake()
        await task
        if self._lock is not None:
            async with self._lock:  # a flush may still be running
                await self._export_spans()
        else:
            await self._export_spans()
        if self._exporter is None:
            await self._export_metrics()
            assert self._client is not None
            await self._client.close()
        else:
            self._exporter.shutdown()

    async def _export_spans(self) -> None:
        queue = self._telemetry.spans
        while queue:
            batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
            try:
                if self._exporter is not None:
                    await self._export_sdk(batch)
                else:
                    await self._post("/v1/traces", await self._encode(batch))
                self.exported_spans += len(batch)
            except Exception as error:  # never let export break the task
                self.failures += 1
                log.warning("span export failed (%d spans dropped): %s", len(batch), error)

    async def _encode(self, batch: list[Hop]) -> bytes:
        parts = []
        for start in range(0, len(batch), SLICE_SPANS):
            if start:
                await asyncio.sleep(0)  # let requests through between slices
            parts.append(encode_span_fields(batch[start:start + SLICE_SPANS]))
        return export_request(parts, self._resource)

    async def _export_sdk(self, batch: list[Hop]) -> None:
        from opentelemetry.sdk.resources import Resource

        from proxy.sdk_spans import to_readable_spans

        if self._sdk_resource is None:
            self._sdk_resource = Resource.create(self._resource)
        assert isinstance(self._sdk_resource, Resource) and self._exporter is not None
        spans = []
        for start in range(0, len(batch), SLICE_SPANS):
            if start:
                await asyncio.sleep(0)
            spans += to_readable_spans(batch[start:start + SLICE_SPANS], self._sdk_resource)
        await asyncio.to_thread(self._exporter.export, spans)

    async def _export_metrics(self) -> None:
        try:
            await self._post("/v1/metrics", encode_metrics(self._telemetry.red.snapshot(),
                                                           self._resource))
        except Exception as error:
            self.failures += 1
            log.debug("metric export failed: %s", error)

    async def _post(self, path: str, body: bytes) -> None:
        assert self._client is not None
        status = await self._client.post(path, body)
        if status >= 300:
            raise OSError(f"{path}: HTTP {status}")


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
