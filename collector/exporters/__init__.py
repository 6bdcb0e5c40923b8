from collector.exporters.clickhouse import ClickHouseExporter, SpanWriter
from collector.exporters.retrying import RetryingExporter
from collector.exporters.sink import SinkExporter, SinkExporterError
from collector.exporters.spool import DiskSpool
from collector.exporters.spooling import ExportStats, SpoolingExporter

__all__ = [
    "ClickHouseExporter",
    "DiskSpool",
    "ExportStats",
    "RetryingExporter",
    "SinkExporter",
    "SinkExporterError",
    "SpanWriter",
    "SpoolingExporter",
]
