"""Span metrics: RED per (minute, service, operation, version, caller, status class)
from server spans, accumulated in memory and taken as `red_1m` rows per export.

Only SERVER spans count: each is one request as the called service saw it.
The caller (the parent span's service) comes from the service graph's pairing
(collector/processors/servicegraph.py), which calls `add` once it is known:
"" for a root span, "unknown" when the parent never arrived within the wait.
"""

from __future__ import annotations

from collections.abc import Mapping

from storage.latency_histogram import bucket_index
from storage.span_metrics_model import RedColumns

ROOT_CALLER = ""
UNKNOWN_CALLER = "unknown"
_NS_PER_MINUTE = 60_000_000_000

_RedKey = tuple[int, str, str, str, str, str]


def status_class(status_code: str, attributes: Mapping[str, str]) -> tuple[str, bool]:
    """("2xx".."5xx" from the HTTP status, else "ok"/"error"), and whether it is an error.

    A server answering 4xx did its job (OTel semantic conventions): only 5xx or an
    Error span status count as errors.
    """
    http = attributes.get("http.response.status_code") or attributes.get("http.status_code")
    error = status_code == "Error"
    if http and http.isdigit():
        code = int(http)
        return f"{code // 100}xx", error or code >= 500
    return ("error" if error else "ok"), error


def minute_of(timestamp_ns: int) -> int:
    """The start of the span's minute, in seconds since the epoch."""
    return timestamp_ns // _NS_PER_MINUTE * 60


class SpanMetricsAggregator:
    def __init__(self) -> None:
        # key -> [requests, errors, duration sum, {bucket: count}]
        self._rows: dict[_RedKey, list] = {}
        self.server_spans = 0

    def __len__(self) -> int:
        return len(self._rows)

    def add(
        self,
        timestamp_ns: int,
        service: str,
        operation: str,
        version: str,
        caller: str,
        status: str,
        error: bool,
        duration_ns: int,
    ) -> None:
        key = (minute_of(timestamp_ns), service, operation, version, caller, status)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [0, 0, 0, {}]
        row[0] += 1
        if error:
            row[1] += 1
        row[2] += duration_ns
        buckets = row[3]
        index = bucket_index(duration_ns)
        buckets[index] = buckets.get(index, 0) + 1
        self.server_spans += 1

    def take(self) -> RedColumns:
        """Everything accumulated since the last take, as rows; starts afresh."""
        rows, self._rows = self._rows, {}
        columns = RedColumns()
        for (minute, service, operation, version, caller, status), values in rows.items():
            columns.Minute.append(minute)
            columns.ServiceName.append(service)
            columns.Operation.append(operation)
            columns.ServiceVersion.append(version)
            columns.Caller.append(caller)
            columns.StatusClass.append(status)
            columns.Requests.append(values[0])
            columns.Errors.append(values[1])
            columns.DurationSumNs.append(values[2])
            columns.DurationBuckets.append(values[3])
        return columns
