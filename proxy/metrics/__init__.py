"""RED metrics: counters on the request path, Prometheus text and OTLP off it."""

from proxy.metrics.red import BUCKETS_MS, LABELS, RedMetrics, RedSnapshot, status_class

__all__ = ["BUCKETS_MS", "LABELS", "RedMetrics", "RedSnapshot", "status_class"]
