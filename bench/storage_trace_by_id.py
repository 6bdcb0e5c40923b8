"""Trace by id, variant against variant, on a kept load: CPU and wall per lookup.

    python bench/storage.py --spans 10000000 --keep DIR      # once: the 10M load
    python bench/storage_trace_by_id.py DIR [--ids 40] [--variants current,two_queries,...]

Runs each variant over the same trace ids, interleaved (each id on every variant
in a rotating order) so that load from other processes falls on all alike, and
reports per variant the medians of process CPU (chdb's threads included) and
wall time per lookup, and whether its spans equal the current query's. Variants
marked `bound` are not answers: they drop a part of the query to show what that
part costs (docs/benchmarks.md, "Trace by id at 10M: what else was measured").
`current` is Store.get_trace's query for the load's sort order: by trace, or, on a
load sorted as the exporter sorts (kept from before), through the trace-id table;
two_queries and extent_alone always read the trace-id table.

Prints one JSON object. chdb runs in this process; run nothing else on DIR meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clickhouse_connect.driver.client import Client

from storage.connection import connect
from storage.queries.span_rows import SPAN_SELECT
from storage.queries.trace_by_id import (
    BY_SERVICE_TRACE_SQL,
    TRACE_SQL,
    render_trace_sql,
    sorted_by_trace,
)
from storage.url import ChdbTarget

DB = "meshlens"
Rows = Sequence[Sequence[Any]]

EXTENT_SQL = f"""SELECT toUnixTimestamp64Nano(min(Start)), toUnixTimestamp64Nano(max(End)),
    groupUniqArrayArray(ServiceOperations), countIf(empty(ServiceOperations)) > 0
FROM `{DB}`.otel_traces_trace_id_ts
WHERE TraceId = {{trace_id:String}}"""

SPANS_BY_BOUNDS_SQL = f"""SELECT {SPAN_SELECT}
FROM `{DB}`.otel_traces
WHERE TraceId = {{trace_id:String}}
  AND Timestamp BETWEEN fromUnixTimestamp64Nano({{start:Int64}})
      AND fromUnixTimestamp64Nano({{end:Int64}})
  AND ({{all:Bool}} OR (ServiceName, SpanName) IN {{ops:Array(Tuple(String, String))}})
ORDER BY Timestamp, SpanId"""

# The spans without Events and Links (empty arrays of the same types instead):
# what a query that knew a trace has neither could save at most.
_WITHOUT_EVENTS_LINKS = (
    SPAN_SELECT.split("arrayMap(")[0]
    + """CAST([], 'Array(Int64)'),
    CAST([], 'Array(String)'), CAST([], 'Array(Map(String, String))'),
    CAST([], 'Array(String)'), CAST([], 'Array(String)'), CAST([], 'Array(String)'),
    CAST([], 'Array(Map(String, String))')"""
)


class Variants:
    def __init__(self, client: Client) -> None:
        self.client = client
        # As Store.get_trace: the query for the table's sort order.
        self.by_trace = sorted_by_trace(client, DB) is not False
        self.template = TRACE_SQL if self.by_trace else BY_SERVICE_TRACE_SQL

    def current(self, trace_id: str, settings: dict[str, Any] | None = None) -> Rows:
        sql, params = render_trace_sql(DB, trace_id, by_trace=self.by_trace)
        return self.client.query(sql, parameters=params, settings=settings or {}).result_rows

    def two_queries(self, trace_id: str) -> Rows:
        """The extent first, then the spans with literal bounds: no scalar subquery."""
        ((start, end, operations, by_time_only),) = self.client.query(
            EXTENT_SQL, parameters={"trace_id": trace_id}
        ).result_rows
        pairs = [tuple(op.values()) if isinstance(op, dict) else tuple(op) for op in operations]
        params = {"trace_id": trace_id, "start": start, "end": end}
        params |= {"all": by_time_only, "ops": pairs}
        return self.client.query(SPANS_BY_BOUNDS_SQL, parameters=params).result_rows

    def lazy(self, trace_id: str) -> Rows:
        """ORDER BY ... LIMIT lets ClickHouse read the other columns by _part_offset."""
        sql, params = render_trace_sql(DB, trace_id, by_trace=self.by_trace)
        settings = {"query_plan_max_limit_for_lazy_materialization": 100_000}
        sql += "\nLIMIT 100000"
        return self.client.query(sql, parameters=params, settings=settings).result_rows

    def without_events_links(self, trace_id: str) -> Rows:
        sql = self.template.format(db=DB, select=_WITHOUT_EVENTS_LINKS)
        return self.client.query(sql, parameters={"trace_id": trace_id}).result_rows

    def extent_alone(self, trace_id: str) -> Rows:
        return self.client.query(EXTENT_SQL, parameters={"trace_id": trace_id}).result_rows

    def select_one(self, trace_id: str) -> Rows:
        """Planning, index analysis, the extent and the PREWHERE columns: no span column."""
        sql = self.template.format(db=DB, select="1")
        return self.client.query(sql, parameters={"trace_id": trace_id}).result_rows

    def table(self) -> dict[str, tuple[bool, Callable[[str], Rows]]]:
        """name -> (bound: not an answer, run)."""

        def with_settings(**settings: Any) -> Callable[[str], Rows]:
            return lambda trace_id: self.current(trace_id, settings)

        return {
            "current": (False, self.current),
            "two_queries": (False, self.two_queries),
            "lazy": (False, self.lazy),
            "read_pread": (False, with_settings(local_filesystem_read_method="pread")),
            "one_thread": (False, with_settings(max_threads=1)),
            "no_compile": (False, with_settings(compile_expressions=0)),
            "sync_marks": (False, with_settings(load_marks_asynchronously=0)),
            "concurrent_read": (
                False,
                with_settings(
                    merge_tree_min_rows_for_concurrent_read=1,
                    merge_tree_min_bytes_for_concurrent_read=1,
                ),
            ),
            "without_events_links": (True, self.without_events_links),
            "extent_alone": (True, self.extent_alone),
            "select_one": (True, self.select_one),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="a chdb directory kept by bench/storage.py --keep")
    parser.add_argument("--ids", type=int, default=40)
    parser.add_argument("--variants", default="current,two_queries,lazy,without_events_links")
    args = parser.parse_args()
    client = connect(ChdbTarget(path=os.path.abspath(args.data), database=DB))
    table = Variants(client).table()
    names = args.variants.split(",")
    unknown = [name for name in names if name not in table]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {sorted(table)}")
    if "current" not in names:
        names.insert(0, "current")
    # A fixed, spread sample: the same ids every run.
    ids = [
        row[0]
        for row in client.query(
            f"SELECT TraceId FROM `{DB}`.otel_traces_trace_id_ts "
            f"WHERE cityHash64(TraceId) % 1000 = 11 LIMIT {int(args.ids)}"
        ).result_rows
    ]
    for trace_id in ids[:3]:  # warm marks and primary indexes
        for name in names:
            table[name][1](trace_id)
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    identical = dict.fromkeys(names, True)
    for i, trace_id in enumerate(ids):
        results: dict[str, list[tuple[Any, ...]]] = {}
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t, c = time.perf_counter(), time.process_time()
            rows = table[name][1](trace_id)
            wall[name].append((time.perf_counter() - t) * 1000)
            cpu[name].append((time.process_time() - c) * 1000)
            results[name] = [tuple(row) for row in rows]
        for name in names:
            identical[name] &= results[name] == results["current"]
    parts = client.query(
        f"SELECT count() FROM system.parts "
        f"WHERE database = '{DB}' AND table = 'otel_traces' AND active"
    ).result_rows[0][0]
    report = {
        "otel_traces_parts": parts,
        "ids": len(ids),
        "variants": {
            name: {
                "cpu_p50_ms": round(statistics.median(cpu[name]), 1),
                "wall_p50_ms": round(statistics.median(wall[name]), 1),
                "wall_p90_ms": round(sorted(wall[name])[int(0.9 * len(ids))], 1),
                "identical": None if table[name][0] else identical[name],
            }
            for name in names
        },
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
