"""The collector's ClickHouse insert alone: the storage floors of bench/collector.py.

`insert_floor` writes OTLP trace requests into a fresh chdb directory with the
call the passthrough exporter makes (`Store.write_otlp_traces`, one per export
batch, with a deduplication token as `ClickHouseExporter` passes one), in a
process of its own (chdb allows one engine path per process) pinned to the
collector's core with taskset. No HTTP, no Python decode, no span metrics or
service graph: what is left is ClickHouse's Protobuf parse, the flattening
`INSERT ... SELECT`, the part write and, with the full schema, the skip indexes
and the materialized views on otel_traces.

`bare` first applies every migration, then drops what hangs on otel_traces: the
materialized views reading it and its skip indexes. The table keeps its columns,
codecs, order key and deduplication window, and the insert statement is the
same: an engine floor for parsing and storing those spans.

The clock and the process CPU time (every thread, chdb's merges included while
they run) cover the first insert to the last one returning, as end_to_end stops
once the collector reports every span written.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the storage package, not bench/storage.py

from clickhouse_connect.driver.client import Client  # noqa: E402

from storage.connection import connect  # noqa: E402
from storage.store import Store  # noqa: E402
from storage.url import parse_storage_url  # noqa: E402


def export_batches(payloads: list[bytes], counts: list[int], max_spans: int) -> list[list[bytes]]:
    """Whole requests in batches of at most `max_spans` spans, as the collector takes
    them when storage is behind (its `batch_max_spans`)."""
    batches: list[list[bytes]] = [[]]
    spans = 0
    for payload, count in zip(payloads, counts, strict=True):
        if batches[-1] and spans + count > max_spans:
            batches.append([])
            spans = 0
        batches[-1].append(payload)
        spans += count
    return batches


def insert_floor(
    batches: list[list[bytes]], total: int, core: int, *, bare: bool
) -> dict[str, object]:
    """spans/s and CPU per span of inserting `batches`, in a process pinned to `core`."""
    directory = tempfile.mkdtemp(prefix="meshlens-bench-insert-")
    command = ["taskset", "-c", str(core), sys.executable, __file__, f"chdb://{directory}"]
    if bare:
        command.append("--bare")
    try:
        measured = subprocess.run(
            command, input=pickle.dumps((total, batches)), capture_output=True, check=True
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(exc.stderr.decode(errors="replace")) from exc
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result: dict[str, object] = json.loads(measured.stdout)
    return result


_VIEWS_SQL = (
    "SELECT arrayJoin(dependencies_table) FROM system.tables "
    "WHERE database = {db:String} AND name = 'otel_traces'"
)
_INDEXES_SQL = (
    "SELECT name FROM system.data_skipping_indices "
    "WHERE database = {db:String} AND table = 'otel_traces'"
)


def _names(client: Client, sql: str, database: str) -> list[str]:
    return [str(row[0]) for row in client.query(sql, parameters={"db": database}).result_rows]


def strip_dependents(client: Client, database: str) -> None:
    """Drop the materialized views that read otel_traces, and its skip indexes."""
    for view in _names(client, _VIEWS_SQL, database):
        client.command(f"DROP VIEW `{database}`.`{view}`")
    for index in _names(client, _INDEXES_SQL, database):
        client.command(f"ALTER TABLE `{database}`.otel_traces DROP INDEX `{index}`")


def measure(url: str, batches: list[list[bytes]], total: int, *, bare: bool) -> dict[str, object]:
    target = parse_storage_url(url)
    client = connect(target)
    store = Store(client, url=url, database=target.database)
    store.migrate()
    if bare:
        strip_dependents(client, store.database)
    views = _names(client, _VIEWS_SQL, store.database)
    indexes = _names(client, _INDEXES_SQL, store.database)
    cpu_before, started = time.process_time(), time.perf_counter()
    for batch in batches:
        store.write_otlp_traces(batch, dedup_token=f"{uuid.uuid4().hex}-otlp")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    stored = store.count_spans()
    store.close()
    if stored != total:
        raise SystemExit(f"{stored} spans stored of {total} inserted")
    return {
        "spans": total, "seconds": round(elapsed, 3), "spans_per_s": round(total / elapsed),
        "cpu_us_per_span": round(cpu / total * 1e6, 1), "inserts": len(batches),
        "views_on_otel_traces": views, "skip_indexes": len(indexes),
    }  # fmt: skip


if __name__ == "__main__":
    total, batches = pickle.loads(sys.stdin.buffer.read())
    result = measure(sys.argv[1], batches, total, bare="--bare" in sys.argv[2:])
    print(json.dumps(result))
