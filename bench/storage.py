"""Storage at scale: load synthetic mesh traffic into chdb and time the questions asked.

    python bench/storage.py [--spans 10000000] [--services 20] [--keep DIR]
    python bench/storage.py --again DIR     # the queries again on a load kept with --keep

Loads `--spans` spans (~10 per trace, so spans/10 traces, over 20 services and
two days; storage/testing.py) with their red_1m and service_edges_1m rows into a
fresh chdb directory, through Store.write_* as the collector writes, in batches
of 10 000 traces. Then reports:

- ingest: spans/s of the inserts alone (generation excluded) and end to end;
- storage: on-disk bytes per table, otel_traces compression ratio (system.parts)
  and its largest columns (system.columns);
- trace by id over 200 random ids, p50/p99, cold (first pass) then warm;
- a fixed set of 20 filtered searches, each run cold then warm, p50/p99;
- RED series and service map for the last 1 h and 24 h, and the other queries.

Prints one JSON object. A benchmark, not a test: it never fails on time.
chdb runs in this process; run nothing else on the directory meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from storage import (
    AttributeFilter,
    RedSeriesQuery,
    SearchOrder,
    SpanStatus,
    Store,
    TraceSearchQuery,
    VersionSamplesQuery,
    open_store,
)
from storage.testing import SyntheticMesh

START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
WINDOW_S = 2 * 86_400
HOUR_NS = 3_600 * 10**9


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def timed_ms(call: Callable[[], Any]) -> float:
    t = time.perf_counter()
    call()
    return (time.perf_counter() - t) * 1000


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": pct(values, 0.5),
        "p99_ms": pct(values, 0.99),
        "max_ms": round(max(values), 2),
    }


def load(store: Store, mesh: SyntheticMesh, ids: list[str], rng: random.Random) -> dict[str, Any]:
    insert_s, spans, seen_traces = 0.0, 0, 0
    wall = time.perf_counter()
    for batch in mesh.batches(traces_per_batch=10_000):
        t = time.perf_counter()
        store.write_spans(batch.spans)
        store.write_red(batch.red)
        store.write_edges(batch.edges)
        insert_s += time.perf_counter() - t
        spans += len(batch.spans)
        for trace_id in dict.fromkeys(batch.spans.TraceId):  # reservoir sample of 200 ids
            seen_traces += 1
            if len(ids) < 200:
                ids.append(trace_id)
            elif (j := rng.randrange(seen_traces)) < 200:
                ids[j] = trace_id
    wall_s = time.perf_counter() - wall
    return {
        "spans": spans,
        "traces": seen_traces,
        "insert_seconds": round(insert_s, 1),
        "insert_spans_per_s": round(spans / insert_s),
        "end_to_end_seconds": round(wall_s, 1),
        "end_to_end_spans_per_s": round(spans / wall_s),
    }


def storage_sizes(store: Store) -> dict[str, Any]:
    db = store.database
    tables = store._run(
        lambda c: (
            c.query(
                "SELECT table, sum(rows), sum(bytes_on_disk), sum(data_compressed_bytes), "
                f"sum(data_uncompressed_bytes), count() FROM system.parts WHERE database = '{db}' "
                "AND active GROUP BY table ORDER BY table"
            ).result_rows
        )
    )
    columns = store._run(
        lambda c: (
            c.query(
                "SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns "
                f"WHERE database = '{db}' AND table = 'otel_traces' "
                "ORDER BY data_compressed_bytes DESC LIMIT 8"
            ).result_rows
        )
    )
    out: dict[str, Any] = {"tables": {}}
    for table, rows, on_disk, compressed, raw, parts in tables:
        out["tables"][table] = {
            "rows": int(rows), "bytes_on_disk": int(on_disk), "parts": int(parts),
            "compression_ratio": round(raw / compressed, 2) if compressed else None,
        }  # fmt: skip
    out["total_bytes_on_disk"] = sum(t["bytes_on_disk"] for t in out["tables"].values())
    spans = out["tables"].get("otel_traces", {})
    out["otel_traces_bytes_per_span"] = round(spans["bytes_on_disk"] / spans["rows"], 1)
    out["otel_traces_largest_columns"] = [
        {"column": n, "compressed": int(c), "ratio": round(u / c, 2) if c else None}
        for n, c, u in columns
    ]
    return out


def searches(names: list[str], end_ns: int) -> list[TraceSearchQuery]:
    front, cart, pay, users, search = names[0], names[7], names[9], names[3], names[5]
    hour = (end_ns - HOUR_NS, end_ns)
    day = (end_ns - 24 * HOUR_NS, end_ns)
    err = SpanStatus.ERROR
    return [
        TraceSearchQuery(),
        TraceSearchQuery(service=front),
        TraceSearchQuery(service=front, operation="GET /frontend"),
        TraceSearchQuery(service=cart, status=err),
        TraceSearchQuery(status=err, start_ns=hour[0], end_ns=hour[1]),
        TraceSearchQuery(attributes=(("http.response.status_code", "500"),)),
        TraceSearchQuery(service=pay, attributes=(("http.request.method", "POST"),)),
        TraceSearchQuery(attributes=(("url.path", "/cart/12345"),)),
        TraceSearchQuery(attribute_patterns=(("url.path", r"^/search/9\d{4}$"),)),
        TraceSearchQuery(service=search, attribute_patterns=(("http.route", "^/search/"),)),
        TraceSearchQuery(service=users, version="v2"),
        TraceSearchQuery(version="v2", status=err),
        TraceSearchQuery(min_duration_ns=200_000_000),
        TraceSearchQuery(service=front, min_duration_ns=100_000_000, max_duration_ns=150_000_000),
        TraceSearchQuery(service=front, order_by=SearchOrder.DURATION),
        TraceSearchQuery(
            service=cart, order_by=SearchOrder.DURATION, start_ns=day[0], end_ns=day[1]
        ),
        TraceSearchQuery(start_ns=hour[0], end_ns=hour[1]),
        TraceSearchQuery(service=pay, start_ns=day[0], end_ns=day[1], limit=100),
        TraceSearchQuery(attributes=(("host.name", f"{names[12]}-1"),), status=err),
        TraceSearchQuery(service=names[19], operation="GET /ledger/:id", limit=50),
    ]


def run_queries(store: Store, names: list[str], ids: list[str]) -> dict[str, Any]:
    end_ns = START_NS + WINDOW_S * 10**9
    out: dict[str, Any] = {}
    # First pass cold, as the searches: each part's marks load on first use (chdb
    # keeps them in its mark cache, as a long-running collector or UI would).
    out["trace_by_id"] = summary([timed_ms(lambda t=t: store.get_trace(t)) for t in ids])
    out["trace_by_id_warm"] = summary([timed_ms(lambda t=t: store.get_trace(t)) for t in ids])
    cold, warm = [], []
    for q in searches(names, end_ns):
        cold.append(timed_ms(lambda q=q: store.search_traces(q)))
        warm.append(timed_ms(lambda q=q: store.search_traces(q)))
    out["search_20_cold"] = summary(cold)
    out["search_20_warm"] = summary(warm)
    out["search_20_warm_each_ms"] = [round(v, 1) for v in warm]
    end_s = end_ns // 10**9
    for label, hours, step in (("1h", 1, 60), ("24h", 24, 300)):
        start_s = end_s - hours * 3_600
        q = RedSeriesQuery(names[0], start_s, end_s, step_s=step, group_by=("operation",))
        out[f"red_series_{label}"] = summary(
            [timed_ms(lambda q=q: store.red_series(q)) for _ in range(10)]
        )
        out[f"service_map_{label}"] = summary(
            [timed_ms(lambda s=start_s: store.service_map(s, end_s)) for _ in range(10)]
        )
    day_start = end_ns - 24 * HOUR_NS
    extra: dict[str, Callable[[], Any]] = {
        "attribute_keys": lambda: store.attribute_keys(AttributeFilter(service=names[7])),
        "attribute_values": lambda: store.attribute_values("http.route", AttributeFilter()),
        "slowest_traces_24h": lambda: store.slowest_traces(names[8], day_start, end_ns),
        "version_samples_1h": lambda: store.version_samples(
            VersionSamplesQuery(names[3], "v1", "v2", end_ns - HOUR_NS, end_ns)
        ),
        "compare_traces": lambda: store.compare_traces(ids[0], ids[1]),
    }
    for label, call in extra.items():
        out[label] = summary([timed_ms(call) for _ in range(10)])
    return out


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def again(directory: str, services: int) -> None:
    """Sizes and queries on a kept load; 200 trace ids picked by hash, not as loaded."""
    mesh = SyntheticMesh(traces=1, start_ns=START_NS, window_s=WINDOW_S, services=services, seed=1)
    with open_store(f"chdb://{os.path.abspath(directory)}") as store:
        ids = [
            row[0]
            for row in store._run(
                lambda c: c.query(
                    f"SELECT DISTINCT TraceId FROM `{store.database}`.otel_traces_trace_id_ts "
                    "WHERE cityHash64(TraceId) % 4000 = 7 LIMIT 200"
                ).result_rows
            )
        ]
        result = {"machine": machine(), "storage": storage_sizes(store)}
        result["queries"] = run_queries(store, mesh.service_names(), ids)
    json.dump(result, sys.stdout, indent=2)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--keep", help="load into this directory and keep it")
    parser.add_argument("--again", metavar="DIR", help="no load: query a load kept with --keep")
    args = parser.parse_args()
    if args.again:
        again(args.again, args.services)
        return
    directory = args.keep or tempfile.mkdtemp(prefix="meshlens-bench-storage-")
    mesh = SyntheticMesh(traces=args.spans // 10, start_ns=START_NS, window_s=WINDOW_S,
                         services=args.services, seed=1)  # fmt: skip
    store = open_store(f"chdb://{directory}")
    rng = random.Random(2)
    ids: list[str] = []
    try:
        result: dict[str, Any] = {"machine": machine(), "ingest": load(store, mesh, ids, rng)}
        result["storage"] = storage_sizes(store)
        result["queries"] = run_queries(store, mesh.service_names(), ids)
        result["note"] = "single run; medians of few samples: compare orders of magnitude"
        json.dump(result, sys.stdout, indent=2)
        print()
    finally:
        store.close()
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
