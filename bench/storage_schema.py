"""otel_traces settings side by side: the same spans in differently configured tables.

    python bench/storage_schema.py [--spans 1000000] [--variants a,b] [--rounds 2] [--optimize]

Why storage/schema.py has the codecs and granularity it has (docs/benchmarks.md,
"Skip indexes and codecs chosen by measurement"). Loads `--spans` synthetic
spans (storage/testing.py, as bench/storage.py) into the schema as it is, with
merges stopped so that every insert stays one part, then copies them part by
part, in insert order, into one database per variant: every variant receives
the same inserts. A variant differs from storage/schema.py only in the codecs
and SETTINGS it names (VARIANTS). With --optimize every variant is then merged
to one part per day, as data ends up after a while; without it, queries run on
the parts as merged when the load ends, as in bench/storage.py.

Reports per variant: seconds of its copies (inserts, views included), parts,
bytes on disk, compression ratio, bytes per span, its largest columns; the
granules a trace by id reads (EXPLAIN indexes=1, medians over 20 ids); and,
interleaved (each id or search runs on every variant in turn, in an order that
rotates, so that other load on the machine falls on all of them alike), wall
and CPU milliseconds of trace by id over 200 ids, the 20 searches of
bench/storage.py, slowest traces and version samples. RED and the service map
read red_1m and service_edges_1m, which no variant changes.

Prints one JSON object. A benchmark, not a test: it never fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.storage import HOUR_NS, START_NS, WINDOW_S, searches
from storage import Store, VersionSamplesQuery, schema
from storage.connection import connect
from storage.queries.trace_by_id import render_trace_sql
from storage.testing import SyntheticMesh
from storage.url import ChdbTarget

SOURCE = "source"


@dataclass(frozen=True, slots=True)
class Variant:
    """Changes to storage/schema.py's otel_traces (`codecs` by column, `settings`) and
    otel_traces_trace_id_ts (`id_settings`; with `operations` False its view writes no
    ServiceOperations, so trace by id reads by time alone, as before issue #6).
    `primary_key` sorts otel_traces otherwise (then by Timestamp); sorted as the exporter
    sorts it (EXPORTER_PRIMARY_KEY), trace by id reads it through the trace-id table."""

    why: str
    codecs: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, int] = field(default_factory=dict)
    id_settings: Mapping[str, int] = field(default_factory=dict)
    operations: bool = True
    primary_key: str = schema.OTEL_TRACES_PRIMARY_KEY

    @property
    def by_service(self) -> bool:
        return self.primary_key == schema.EXPORTER_PRIMARY_KEY


_IDS = ("TraceId", "SpanId", "ParentSpanId")
_STRINGS = schema.STRING_COLUMNS
_MAPS = ("ResourceAttributes", "SpanAttributes")
# What the OpenTelemetry Collector's exporter creates, as this schema did until
# 2026-11 (with T64 on Duration): ZSTD(1) everywhere, 8192 rows per granule.
EXPORTER_CODECS = {
    "Timestamp": "Delta(8), ZSTD(1)",
    **dict.fromkeys((*_STRINGS, *_MAPS), "ZSTD(1)"),
}
G8192 = {"index_granularity": 8192}
# Chosen while sorted by service (Delta then T64: 4.96 against 5.76 B/span).
BY_SERVICE_TIMESTAMP_CODEC = "Delta(8), T64, ZSTD(1)"

VARIANTS: dict[str, Variant] = {
    "schema": Variant("storage/schema.py as it is"),
    "exporter": Variant(
        "the exporter's codecs and granularity, trace by id by time alone (the schema before)",
        EXPORTER_CODECS,
        G8192,
        G8192,
        operations=False,
        primary_key=schema.EXPORTER_PRIMARY_KEY,
    ),
    "by_service": Variant(
        "sorted by (service, operation, time), as the exporter sorts (the schema before)",
        {"Timestamp": BY_SERVICE_TIMESTAMP_CODEC},
        primary_key=schema.EXPORTER_PRIMARY_KEY,
    ),
    "hour_service": Variant(
        "sorted by (hour, service, TraceId): a trace's spans together per service",
        primary_key="toStartOfHour(Timestamp), ServiceName, TraceId",
    ),
    "by_time": Variant(
        "sorted by service, trace by id by time alone (no ServiceOperations)",
        operations=False,
        primary_key=schema.EXPORTER_PRIMARY_KEY,
    ),
    "g8192": Variant("index_granularity 8192", settings=G8192),
    "g4096": Variant("index_granularity 4096", settings={"index_granularity": 4096}),
    "g1024": Variant("index_granularity 1024", settings={"index_granularity": 1024}),
    "block16k": Variant(
        "compressed blocks from 16 KiB, not 64 KiB", settings={"min_compress_block_size": 16_384}
    ),
    "id_g8192": Variant("trace-id table at 8192 rows per granule", id_settings=G8192),
    "zstd1": Variant(
        "ZSTD(1) on every string and map", dict.fromkeys((*_STRINGS, *_MAPS), "ZSTD(1)")
    ),
    "ids_zstd1": Variant("ZSTD(1) on the three ids", dict.fromkeys(_IDS, "ZSTD(1)")),
    "ids_zstd5": Variant("ZSTD(5) on the three ids", dict.fromkeys(_IDS, "ZSTD(5)")),
    "maps_zstd3": Variant("ZSTD(3) on the attribute maps", dict.fromkeys(_MAPS, "ZSTD(3)")),
    "maps_zstd9": Variant("ZSTD(9) on the attribute maps", dict.fromkeys(_MAPS, "ZSTD(9)")),
    "ts_delta_t64": Variant(
        "Timestamp Delta, T64, ZSTD(1) (the choice when sorted by service)",
        {"Timestamp": BY_SERVICE_TIMESTAMP_CODEC},
    ),
    "ts_t64": Variant("Timestamp T64, ZSTD(1) (no Delta)", {"Timestamp": "T64, ZSTD(1)"}),
}
DEFAULT_VARIANTS = ("exporter", "by_service", "g8192", "g1024", "schema")


def with_changes(ddl: str, codecs: Mapping[str, str], settings: Mapping[str, int]) -> str:
    """`ddl` with the CODEC of each column in `codecs` and the SETTINGS in `settings` replaced."""
    for column, codec in codecs.items():
        line = re.compile(rf"(\n    {re.escape(column)} [^\n]*?) CODEC\((?:[^()]|\([^()]*\))*\)")
        ddl, found = line.subn(lambda m, c=codec: f"{m[1]} CODEC({c})", ddl)
        if found != 1:
            raise ValueError(f"variant: no column {column!r} with a CODEC in {ddl[:60]!r}")
    if settings:
        head, sep, tail = ddl.rpartition("SETTINGS ")
        if not sep:
            raise ValueError(f"variant: no SETTINGS in {ddl[:60]!r}")
        values = dict(item.split(" = ", 1) for item in tail.split(", "))
        values.update({name: str(value) for name, value in settings.items()})
        ddl = head + sep + ", ".join(f"{name} = {value}" for name, value in values.items())
    return ddl


_OPERATIONS_SELECTED = ",\n    groupUniqArray((ServiceName, SpanName)) AS ServiceOperations"


def variant_ddl(variant: Variant, database: str) -> list[str]:
    view = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_MV_DDL, database)
    traces = schema.render(schema.OTEL_TRACES_DDL, database)
    traces = traces.replace(schema.OTEL_TRACES_PRIMARY_KEY, variant.primary_key)
    if _OPERATIONS_SELECTED not in view:
        raise ValueError("variant: the trace-id view selects ServiceOperations differently")
    return [
        f"CREATE DATABASE IF NOT EXISTS `{database}`",
        with_changes(traces, variant.codecs, variant.settings),
        with_changes(
            schema.render(schema.OTEL_TRACES_TRACE_ID_TS_DDL, database), {}, variant.id_settings
        ),
        view if variant.operations else view.replace(_OPERATIONS_SELECTED, ""),
    ]


def rotations(names: list[str], k: int) -> list[str]:
    i = k % len(names)
    return names[i:] + names[:i]


def timed(call: Callable[[], Any]) -> tuple[float, float]:
    """(wall ms, CPU ms of this process, chdb's threads included) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    wall = sorted(s[0] for s in samples)
    return {
        "p50_ms": round(statistics.median(wall), 1),
        "p90_ms": round(wall[int(0.9 * (len(wall) - 1))], 1),
        "cpu_p50_ms": round(statistics.median(s[1] for s in samples), 1),
    }


class Bench:
    def __init__(self, directory: str, names: list[str]) -> None:
        self.url = f"chdb://{directory}"
        self.client = connect(ChdbTarget(path=directory))
        self.names = names
        self.stores = {n: Store(self.client, url=self.url, database=f"v_{n}") for n in names}

    def sql(self, sql: str) -> list[Any]:
        return list(self.client.query(sql).result_rows)

    def load_source(self, mesh: SyntheticMesh, rng: random.Random) -> tuple[list[str], float]:
        """Spans into database `source`, one part per insert; 200 random trace ids."""
        source = Store(self.client, url=self.url, database=SOURCE)
        source.migrate()
        self.client.command(f"SYSTEM STOP MERGES `{SOURCE}`.otel_traces")
        ids: list[str] = []
        seen, started = 0, time.perf_counter()
        for batch in mesh.batches(traces_per_batch=10_000):
            source.write_spans(batch.spans)
            for trace_id in dict.fromkeys(batch.spans.TraceId):  # reservoir sample
                seen += 1
                if len(ids) < 200:
                    ids.append(trace_id)
                elif (j := rng.randrange(seen)) < 200:
                    ids[j] = trace_id
        return ids, time.perf_counter() - started

    def copy(self, optimize: bool) -> dict[str, float]:
        """The source's parts, in insert order, into every variant; seconds per variant."""
        for name in self.names:
            for sql in variant_ddl(VARIANTS[name], f"v_{name}"):
                self.client.command(sql)
        parts = self.sql(
            f"SELECT name FROM system.parts WHERE database = '{SOURCE}' AND table = "
            "'otel_traces' AND active ORDER BY min_block_number, partition_id"
        )
        seconds = dict.fromkeys(self.names, 0.0)
        for k, (part,) in enumerate(parts):
            for name in rotations(self.names, k):
                started = time.perf_counter()
                self.client.command(
                    f"INSERT INTO `v_{name}`.otel_traces "
                    f"SELECT * FROM `{SOURCE}`.otel_traces WHERE _part = '{part}'"
                )
                seconds[name] += time.perf_counter() - started
        if optimize:
            for name in self.names:
                for table in ("otel_traces", "otel_traces_trace_id_ts"):
                    self.client.command(f"OPTIMIZE TABLE `v_{name}`.{table} FINAL")
        return {name: round(s, 1) for name, s in seconds.items()}

    def settle(self, timeout_s: float = 300) -> None:
        """Until no merge has run for 3 s: a merge during timing would weigh on one variant."""
        quiet, deadline = 0, time.monotonic() + timeout_s
        while quiet < 3 and time.monotonic() < deadline:
            busy = self.sql("SELECT count() FROM system.merges WHERE database LIKE 'v\\_%'")[0][0]
            quiet = 0 if busy else quiet + 1
            time.sleep(1)

    def storage(self, name: str) -> dict[str, Any]:
        db = f"v_{name}"
        out: dict[str, Any] = {}
        for table in ("otel_traces", "otel_traces_trace_id_ts"):
            ((parts, rows, disk, packed, raw),) = self.sql(
                "SELECT count(), sum(rows), sum(bytes_on_disk), sum(data_compressed_bytes), "
                f"sum(data_uncompressed_bytes) FROM system.parts WHERE database = '{db}' "
                f"AND table = '{table}' AND active"
            )
            out[table] = {
                "parts": int(parts),
                "rows": int(rows),
                "bytes_on_disk": int(disk),
                "bytes_per_row": round(disk / rows, 1),
                "compression_ratio": round(raw / packed, 2),
                # [compressed bytes, ratio] of its largest columns
                "columns": {
                    n: [int(c), round(u / c, 1)]
                    for n, c, u in self.sql(
                        "SELECT name, data_compressed_bytes, data_uncompressed_bytes "
                        f"FROM system.columns WHERE database = '{db}' AND table = '{table}' "
                        "AND data_compressed_bytes > 0 ORDER BY data_compressed_bytes DESC LIMIT 8"
                    )
                },
            }
        return out

    def granules(self, name: str, ids: list[str]) -> dict[str, float]:
        """Medians over `ids` of the otel_traces granules each index step leaves."""
        steps: dict[str, list[int]] = {}
        for trace_id in ids:
            by_trace = not VARIANTS[name].by_service
            sql, params = render_trace_sql(f"v_{name}", trace_id, by_trace=by_trace)
            plan = [
                row[0].strip()
                for row in self.client.query(
                    f"EXPLAIN indexes=1 {sql}", parameters=params
                ).result_rows
            ]
            step = ""
            for line in plan:
                if line in ("Min-Max", "Partition", "PrimaryKey", "Skip"):
                    step = line
                elif step and (m := re.match(r"Granules: (\d+)/(\d+)", line)):
                    if step == "Min-Max":
                        steps.setdefault("in_table", []).append(int(m[2]))
                    steps.setdefault(step, []).append(int(m[1]))
        return {step: statistics.median(v) for step, v in steps.items()}

    def interleaved(self, calls: list[Callable[[Store], Any]], rounds: int) -> dict[str, list]:
        """Samples per variant: every call on every variant in turn, order rotating."""
        samples: dict[str, list[tuple[float, float]]] = {n: [] for n in self.names}
        k = 0
        for _ in range(rounds):
            for call in calls:
                for name in rotations(self.names, k):
                    samples[name].append(timed(lambda c=call, n=name: c(self.stores[n])))
                k += 1
        return samples


def timings(bench: Bench, ids: list[str], services: list[str], rounds: int) -> dict[str, dict]:
    """Per variant: trace by id, the 20 searches (also each), slowest traces, version samples."""
    end_ns = START_NS + WINDOW_S * 10**9
    queries = searches(services, end_ns)
    by_id = bench.interleaved([lambda s, t=t: s.get_trace(t) for t in ids], rounds)
    found = bench.interleaved([lambda s, q=q: s.search_traces(q) for q in queries], rounds)
    others = {
        "slowest_traces_24h": lambda s: s.slowest_traces(
            services[8], end_ns - 24 * HOUR_NS, end_ns
        ),
        "version_samples_1h": lambda s: s.version_samples(
            VersionSamplesQuery(services[3], "v1", "v2", end_ns - HOUR_NS, end_ns)
        ),
    }
    other_samples = {k: bench.interleaved([c] * 5, rounds) for k, c in others.items()}
    return {
        name: {
            "trace_by_id": summary(by_id[name]),
            "search_20": summary(found[name]),
            "search_each_p50_ms": [
                round(statistics.median(s[0] for s in found[name][i :: len(queries)]), 1)
                for i in range(len(queries))
            ],
            **{k: summary(s[name]) for k, s in other_samples.items()},
        }
        for name in bench.names
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated, of: {', '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="times every query is run; 0: sizes only"
    )
    parser.add_argument("--optimize", action="store_true", help="merge to one part per day")
    parser.add_argument("--keep", help="load into this directory and keep it")
    args = parser.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    directory = args.keep or tempfile.mkdtemp(prefix="meshlens-bench-schema-")
    mesh = SyntheticMesh(traces=args.spans // 10, start_ns=START_NS, window_s=WINDOW_S, seed=1)
    bench = Bench(directory, names)
    try:
        ids, load_s = bench.load_source(mesh, random.Random(2))
        inserts = bench.copy(args.optimize)
        bench.settle()
        timed_queries = (
            timings(bench, ids, mesh.service_names(), args.rounds) if args.rounds else {}
        )
        result: dict[str, Any] = {
            "spans": args.spans,
            "optimize": args.optimize,
            "rounds": args.rounds,
            "source_load_seconds": round(load_s, 1),
            "cpus": os.cpu_count(),
            "variants": {},
        }
        for name in names:
            v = VARIANTS[name]
            result["variants"][name] = {
                "why": v.why,
                "codecs": dict(v.codecs),
                "settings": dict(v.settings),
                "id_settings": dict(v.id_settings),
                "operations": v.operations,
                "primary_key": v.primary_key,
                "insert_seconds": inserts[name],
                "storage": bench.storage(name),
                "trace_by_id_granules": bench.granules(name, ids[:20]),
                **timed_queries.get(name, {}),
            }
        json.dump(result, sys.stdout, indent=2)
        print()
    finally:
        bench.client.close()
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
