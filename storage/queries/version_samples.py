"""Per-request latency and status of two versions of a service, for the canary judge.

Aggregates cannot answer a Mann-Whitney test: it needs each request. These are
the service's server spans (one per request it answered) in a window, split by
the resource attribute `service.version`, newest first, at most `limit` per version.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

MAX_SAMPLES = 100_000

SAMPLES_SQL = """SELECT
    ResourceAttributes['service.version'] AS version,
    toUnixTimestamp64Nano(Timestamp) AS timestamp_ns,
    Duration,
    StatusCode,
    SpanAttributes['http.response.status_code'] AS http_status
FROM `{db}`.otel_traces
WHERE {where}
ORDER BY Timestamp DESC
LIMIT {{limit:UInt32}} BY version"""


@dataclass(frozen=True, slots=True)
class VersionSamplesQuery:
    """Server spans of `service` in [start_ns, end_ns) for two versions."""

    service: str
    baseline_version: str
    canary_version: str
    start_ns: int
    end_ns: int
    operation: str | None = None
    limit: int = 10_000  # per version


@dataclass(frozen=True, slots=True)
class RequestSample:
    timestamp_ns: int
    duration_ns: int
    error: bool  # an Error span status or an HTTP 5xx, as red_1m counts errors
    http_status: int | None


@dataclass(frozen=True, slots=True)
class VersionSamples:
    baseline: tuple[RequestSample, ...]
    canary: tuple[RequestSample, ...]


def validate(q: VersionSamplesQuery) -> None:
    problems = []
    for name in ("service", "baseline_version", "canary_version"):
        if not getattr(q, name):
            problems.append(f"{name}: must not be empty")
    if q.baseline_version and q.baseline_version == q.canary_version:
        problems.append("canary_version: must differ from baseline_version")
    if q.end_ns <= q.start_ns:
        problems.append(f"end_ns: {q.end_ns} must be after start_ns {q.start_ns}")
    if isinstance(q.limit, bool) or not 1 <= q.limit <= MAX_SAMPLES:
        problems.append(f"limit: must be 1..{MAX_SAMPLES}, got {q.limit!r}")
    if problems:
        raise ValueError("invalid VersionSamplesQuery: " + "; ".join(problems))


def render_samples_sql(database: str, q: VersionSamplesQuery) -> tuple[str, dict[str, object]]:
    validate(q)
    where = [
        "ServiceName = {service:String}",
        "SpanKind = 'Server'",
        "Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})",
        "Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})",
        "version IN {versions:Array(String)}",
    ]
    params: dict[str, object] = {
        "service": q.service,
        "start_ns": q.start_ns,
        "end_ns": q.end_ns,
        "versions": [q.baseline_version, q.canary_version],
        "limit": q.limit,
    }
    if q.operation is not None:
        where.insert(1, "SpanName = {operation:String}")
        params["operation"] = q.operation
    return SAMPLES_SQL.format(db=database, where="\n  AND ".join(where)), params


def _sample(timestamp_ns: int, duration: int, status: str, http: str) -> RequestSample:
    http_status = int(http) if http.isdigit() else None
    error = status == "Error" or (http_status is not None and http_status >= 500)
    return RequestSample(int(timestamp_ns), int(duration), error, http_status)


def fetch_version_samples(client: Client, database: str, q: VersionSamplesQuery) -> VersionSamples:
    sql, params = render_samples_sql(database, q)
    by_version: dict[str, list[RequestSample]] = {q.baseline_version: [], q.canary_version: []}
    for version, *rest in client.query(sql, parameters=params).result_rows:
        by_version[version].append(_sample(*rest))
    return VersionSamples(
        baseline=tuple(by_version[q.baseline_version]), canary=tuple(by_version[q.canary_version])
    )
