"""MeshLens OTLP collector: receivers (gRPC, HTTP), batch processor, exporters.

Public API: `Collector`, its `CollectorConfig`, the exporters and their spooling
helper, and the OTLP
decoders for code that receives traces by other means.
"""

from collector.config import (
    CollectorConfig,
    CollectorConfigError,
    RetryConfig,
    SelfMetricsConfig,
    TailSamplingConfig,
    TlsServerConfig,
)
from collector.exporters import (
    ClickHouseExporter,
    DiskSpool,
    RetryingExporter,
    SinkExporter,
    SpoolingExporter,
)
from collector.pipeline import BatchExporter, ExportBatch, SpanConsumer, SpanExporter
from collector.processors import BatchStats
from collector.service import Collector
from collector.translate import OtlpDecodeError, decode_json, decode_protobuf, decode_request

__all__ = [
    "BatchExporter",
    "BatchStats",
    "ClickHouseExporter",
    "Collector",
    "CollectorConfig",
    "CollectorConfigError",
    "DiskSpool",
    "ExportBatch",
    "OtlpDecodeError",
    "RetryConfig",
    "RetryingExporter",
    "SelfMetricsConfig",
    "SinkExporter",
    "SpanConsumer",
    "SpanExporter",
    "SpoolingExporter",
    "TailSamplingConfig",
    "TlsServerConfig",
    "decode_json",
    "decode_protobuf",
    "decode_request",
]
