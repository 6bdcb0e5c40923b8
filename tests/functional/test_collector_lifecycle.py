"""One lifecycle for every long-lived part: start -> stop -> start, stop safe anytime."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Protocol

import pytest

from collector import (
    Collector,
    CollectorConfig,
    DiskSpool,
    SinkExporter,
    SpoolingExporter,
    TailSamplingConfig,
)
from collector.admin import AdminServer
from collector.config import SelfMetricsConfig
from collector.exporters.export_latency import ExportLatency
from collector.processors import BatchProcessor
from collector.processors.derived_signals import DerivedSignals
from collector.processors.tail_sampling import TailSamplingProcessor
from collector.receivers import OtlpGrpcReceiver, OtlpHttpReceiver
from collector.self_metrics import SelfMetrics
from collector.testing import MetricsSink


class Component(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def _ports(component: Component) -> list[int]:
    if isinstance(component, Collector):
        return [component.http_port, component.grpc_port]
    if isinstance(component, OtlpHttpReceiver | OtlpGrpcReceiver | AdminServer):
        return [component.port]
    return []


FACTORIES: dict[str, Callable[[], Component]] = {
    "batch-processor": lambda: BatchProcessor(SinkExporter()),
    "otlp-http-receiver": lambda: OtlpHttpReceiver(BatchProcessor(SinkExporter()), port=0),
    "otlp-grpc-receiver": lambda: OtlpGrpcReceiver(BatchProcessor(SinkExporter()), port=0),
    "collector": lambda: Collector(CollectorConfig(http_port=0, grpc_port=0), SinkExporter()),
    "collector-with-spool-and-admin": lambda: Collector(
        CollectorConfig(http_port=0, grpc_port=0, admin_port=0, spool_dir=tempfile.mkdtemp()),
        SinkExporter(),
    ),
    "derived-signals": lambda: DerivedSignals(SinkExporter(), tick_s=0.01),
    "tail-sampling": lambda: TailSamplingProcessor(
        SinkExporter(), TailSamplingConfig(enabled=True), tick_s=0.01
    ),
    "collector-with-tail-sampling": lambda: Collector(
        CollectorConfig(http_port=0, grpc_port=0, tail_sampling=TailSamplingConfig(enabled=True)),
        SinkExporter(),
    ),
    "spooling-exporter": lambda: SpoolingExporter(
        SinkExporter(), spool=DiskSpool(tempfile.mkdtemp(), max_bytes=1 << 20)
    ),
    "admin-server": lambda: AdminServer(dict, host="127.0.0.1", port=0),
    "self-metrics": lambda: SelfMetrics(
        MetricsSink(), dict, ExportLatency, SelfMetricsConfig(interval_s=0.1)
    ),
    "collector-with-self-metrics": lambda: Collector(
        CollectorConfig(http_port=0, grpc_port=0, self_metrics=SelfMetricsConfig(interval_s=0.1)),
        SinkExporter(),
        self_metrics_store=MetricsSink(),
    ),
}


@pytest.mark.parametrize("name", FACTORIES)
async def test_start_stop_start(name: str) -> None:
    component = FACTORIES[name]()
    await component.stop()  # before start
    await component.start()
    await component.start()  # already started: nothing happens
    assert all(port > 0 for port in _ports(component))
    await component.stop()
    await component.stop()  # twice
    await component.start()  # and once more
    assert all(port > 0 for port in _ports(component))
    await component.stop()


async def test_ports_are_unknown_when_not_running() -> None:
    collector = Collector(CollectorConfig(http_port=0, grpc_port=0), SinkExporter())
    with pytest.raises(RuntimeError, match="not started"):
        _ = collector.http_port
    await collector.start()
    await collector.stop()
    with pytest.raises(RuntimeError, match="not started"):
        _ = collector.grpc_port


@pytest.mark.parametrize("receiver", ["http", "grpc"])
async def test_port_in_use_fails_start_and_leaves_nothing_running(receiver: str) -> None:
    # The port is held by another collector, as when one is started twice: grpc
    # would share a port silently if SO_REUSEPORT were left on.
    first = Collector(CollectorConfig(http_port=0, grpc_port=0), SinkExporter())
    await first.start()
    try:
        taken = first.http_port if receiver == "http" else first.grpc_port
        config = CollectorConfig(
            http_port=taken if receiver == "http" else 0,
            grpc_port=taken if receiver == "grpc" else 0,
        )
        second = Collector(config, SinkExporter())
        with pytest.raises(OSError):
            await second.start()
        # What had started before the failure was stopped again.
        for port in ("http_port", "grpc_port"):
            with pytest.raises(RuntimeError, match="not started"):
                getattr(second, port)
        await second.stop()
    finally:
        await first.stop()
