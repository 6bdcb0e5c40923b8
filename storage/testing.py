"""Synthetic mesh traffic for benchmarks and scale tests: spans with the RED and
service-graph rows the collector would derive from them.

Deterministic for a seed. A fixed call graph over `services` services; each trace
enters at the first service and makes 3-6 calls down the graph, each call a
Client span in the caller and a Server span in the callee, so ~10 spans per
trace. Attributes follow the OTel HTTP conventions; one request in 50 fails with
a 500; a tenth of the requests to every third service hit its canary version v2.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from storage.latency_histogram import bucket_index
from storage.model import SpanColumns
from storage.span_metrics_model import EdgeColumns, RedColumns

SERVICE_NAMES = (
    "frontend", "gateway", "auth", "users", "catalog", "search", "recommend", "cart",
    "checkout", "payment", "shipping", "inventory", "pricing", "currency", "email",
    "notify", "reviews", "ads", "fraud", "ledger",
)  # fmt: skip
OPERATIONS = ("GET /{}", "GET /{}/:id", "POST /{}", "PUT /{}/:id", "DELETE /{}/:id")
MS = 1_000_000


@dataclass(slots=True)
class SyntheticBatch:
    spans: SpanColumns
    red: RedColumns
    edges: EdgeColumns


@dataclass(frozen=True, slots=True)
class SyntheticMesh:
    """`traces` traces with starts spread evenly over [start_ns, start_ns + window_s)."""

    traces: int
    start_ns: int
    window_s: int = 2 * 86_400
    services: int = 20
    prefix: str = ""  # prepended to every service name, to isolate runs in one store
    seed: int = 1

    def service_names(self) -> list[str]:
        return [f"{self.prefix}{SERVICE_NAMES[i % 20]}{'' if i < 20 else i}"
                for i in range(self.services)]  # fmt: skip

    def batches(self, traces_per_batch: int = 10_000) -> Iterator[SyntheticBatch]:
        rng = random.Random(self.seed)
        names = self.service_names()
        # A tree rooted at the first service, so every service is called, plus a
        # shortcut from every service to a later one.
        calls: list[set[int]] = [set() for _ in range(self.services)]
        for j in range(1, self.services):
            calls[rng.randrange(max(0, j - 3), j)].add(j)
            calls[rng.randrange(j)].add(j)
        downstream = [sorted(c) for c in calls]
        step_ns = self.window_s * 1_000_000_000 // max(self.traces, 1)
        for first in range(0, self.traces, traces_per_batch):
            batch = _BatchBuilder(names)
            for n in range(first, min(first + traces_per_batch, self.traces)):
                start = self.start_ns + n * step_ns + rng.randrange(step_ns or 1)
                _trace(rng, batch, downstream, start)
            yield batch.finish()


class _BatchBuilder:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.spans = SpanColumns()
        self.red: dict[tuple[object, ...], list[Any]] = {}
        self.edges: dict[tuple[object, ...], list[Any]] = {}

    def span(self, trace_id: str, span_id: str, parent: str, service: int, op: str, kind: str,
             start: int, duration: int, status: str, attrs: dict[str, str],
             version: str) -> None:  # fmt: skip
        s = self.spans
        name = self.names[service]
        s.Timestamp.append(start)
        s.TraceId.append(trace_id)
        s.SpanId.append(span_id)
        s.ParentSpanId.append(parent)
        s.TraceState.append("")
        s.SpanName.append(op)
        s.SpanKind.append(kind)
        s.ServiceName.append(name)
        s.ResourceAttributes.append({
            "service.name": name, "service.version": version,
            "host.name": f"{name}-{int(span_id[-2:], 16) % 3}", "k8s.namespace.name": "shop",
            "telemetry.sdk.language": "python",
        })  # fmt: skip
        s.ScopeName.append("meshlens.proxy")
        s.ScopeVersion.append("0.1.0")
        s.SpanAttributes.append(attrs)
        s.Duration.append(duration)
        s.StatusCode.append(status)
        s.StatusMessage.append("internal error" if status == "Error" else "")
        for column in (s.EventsTimestamp, s.EventsName, s.EventsAttributes, s.LinksTraceId,
                       s.LinksSpanId, s.LinksTraceState, s.LinksAttributes):  # fmt: skip
            column.append([])

    def count(
        self,
        key: tuple[object, ...],
        table: dict[tuple[object, ...], list[Any]],
        duration: int,
        error: bool,
    ) -> None:
        row = table.get(key)
        if row is None:
            row = table[key] = [0, 0, 0, {}]
        row[0] += 1
        row[1] += error
        row[2] += duration
        b = bucket_index(duration)
        row[3][b] = row[3].get(b, 0) + 1

    def finish(self) -> SyntheticBatch:
        red, edges = RedColumns(), EdgeColumns()
        for key, (n, errors, total, buckets) in self.red.items():
            for column, value in zip(red.__slots__, (*key, n, errors, total, buckets), strict=True):
                getattr(red, column).append(value)
        for key, (n, errors, total, buckets) in self.edges.items():
            values = (*key, "", n, errors, total, buckets)
            for column, value in zip(edges.__slots__, values, strict=True):
                getattr(edges, column).append(value)
        return SyntheticBatch(self.spans, red, edges)


def _trace(rng: random.Random, b: _BatchBuilder, downstream: list[list[int]], start: int) -> None:
    trace_id = f"{rng.getrandbits(128):032x}"
    # (span id, service, start, duration) of every server span so far; calls hang off them.
    root_id = f"{rng.getrandbits(64):016x}"
    root_duration = int(rng.lognormvariate(3.5, 0.6) * MS)
    servers = [(root_id, 0, start, root_duration)]
    _server(rng, b, trace_id, root_id, "", 0, "", start, root_duration, rng.randrange(5))
    for _ in range(rng.randint(3, 6)):
        parent_id, caller, parent_start, parent_duration = rng.choice(servers)
        callees = downstream[caller] or downstream[0]
        callee = rng.choice(callees)
        offset = rng.randrange(max(parent_duration // 4, 1))
        duration = max(int(parent_duration * rng.uniform(0.1, 0.6)), 50_000)
        client_id, server_id = f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(64):016x}"
        at = parent_start + offset
        kind = rng.randrange(5)
        error = _server(rng, b, trace_id, server_id, client_id, callee, b.names[caller],
                        at + 200_000, duration, kind)  # fmt: skip
        route = OPERATIONS[kind].format(SERVICE_NAMES[callee % 20])
        attrs = {"http.request.method": route.split()[0], "server.address": b.names[callee],
                 "http.response.status_code": "500" if error else "200"}  # fmt: skip
        b.span(trace_id, client_id, parent_id, caller, route, "Client", at, duration + 400_000,
               "Error" if error else "Unset", attrs, "v1")  # fmt: skip
        minute = at // 60_000_000_000 * 60
        b.count((minute, b.names[caller], b.names[callee]), b.edges, duration + 400_000, error)
        servers.append((server_id, callee, at + 200_000, duration))


def _server(rng: random.Random, b: _BatchBuilder, trace_id: str, span_id: str, parent: str,
            service: int, caller: str, start: int, duration: int, kind: int) -> bool:  # fmt: skip
    error = rng.random() < 0.02
    version = "v2" if service % 3 == 0 and rng.random() < 0.1 else "v1"
    route = OPERATIONS[kind].format(SERVICE_NAMES[service % 20])
    status = "500" if error else ("201" if kind == 2 else "200")
    attrs = {
        "http.request.method": route.split()[0],
        "http.route": route.split()[1],
        "url.path": route.split()[1].replace(":id", str(rng.randrange(100_000))),
        "http.response.status_code": status,
        "user_agent.original": "Mozilla/5.0" if service == 0 else "meshlens-proxy/0.1",
    }
    b.span(trace_id, span_id, parent, service, route, "Server", start, duration,
           "Error" if error else "Unset", attrs, version)  # fmt: skip
    minute = start // 60_000_000_000 * 60
    key = (minute, b.names[service], route, version, caller, f"{status[0]}xx")
    b.count(key, b.red, duration, error)
    return error
