"""MeshLens OTLP collector: receivers (gRPC, HTTP), batch processor, exporters.

Public API: `Collector`, its `CollectorConfig`, the exporters, and the OTLP
decoders for code that receives traces by other means.
"""

from collector.config import CollectorConfig, CollectorConfigError, RetryConfig
from collector.exporters import ClickHouseExporter, RetryingExporter, SinkExporter
from collector.pipeline import SpanConsumer, SpanExporter
from collector.processors import BatchStats
from collector.service import Collector
from collector.translate import OtlpDecodeError, decode_json, decode_protobuf, decode_request

__all__ = [
    "BatchStats",
    "ClickHouseExporter",
    "Collector",
    "CollectorConfig",
    "CollectorConfigError",
    "OtlpDecodeError",
    "RetryConfig",
    "RetryingExporter",
    "SinkExporter",
    "SpanConsumer",
    "SpanExporter",
    "decode_json",
    "decode_protobuf",
    "decode_request",
]
