from collector.exporters.clickhouse import ClickHouseExporter, SpanWriter
from collector.exporters.retrying import RetryingExporter
from collector.exporters.sink import SinkExporter, SinkExporterError

__all__ = [
    "ClickHouseExporter",
    "RetryingExporter",
    "SinkExporter",
    "SinkExporterError",
    "SpanWriter",
]
