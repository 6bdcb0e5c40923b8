"""Collector throughput: spans/s end to end into chdb, beside its Python and storage floors.

    python bench/collector.py [--spans 200000] [--batch 1000] [--rounds 1]

Side by side in one run, on the same OTLP/HTTP protobuf payloads (traces over
three services, 10-20 attributes per span):

- floor: spans/s to decode and flatten the payloads only (`decode_protobuf`),
  in this process, pinned to the collector's core;
- floor_passthrough: spans/s of what the collector still does in Python per
  request when ClickHouse decodes the spans (`decode_passthrough`: parse, check,
  read the span facts), same core;
- clickhouse_insert: ClickHouse's insert alone, the same call the passthrough
  exporter makes (`Store.write_otlp_traces`) on the same requests, in batches of
  the collector's `batch_max_spans` (the size its exports reach when storage is
  behind), into a fresh chdb directory with every migration applied (the
  attribute-catalog and trace-id views on), in a process pinned to the
  collector's core: no HTTP, no Python decode, no span metrics or service graph;
- clickhouse_insert_bare: the same, into an otel_traces without the materialized
  views reading it and without its skip indexes: the engine's own cost to parse
  and store those spans (bench/collector_clickhouse_insert.py);
- end_to_end: a collector in its own process pinned to core 0 (taskset), with
  span metrics and the service graph on, writing into a fresh chdb directory;
  this process, pinned to core 1, sends the payloads over HTTP and times from
  the first request to the collector reporting every span written (its admin
  /metrics). Refused requests (429) are retried after a pause, as SDKs do.
  `collector_cpu_us_per_span` is the collector process's CPU time (user +
  system, every thread, chdb's included) over the same interval per span: on a
  shared machine it moves far less than spans/s does.
  Two cases: `passthrough`, the collector's default (requests go to ClickHouse
  undecoded), and `decoded` (every span decoded in Python and inserted as
  columns, as before the passthrough).

`cpu_us_per_span` of the floors is their process's CPU time per span: this
process for the Python floors, the inserting process (chdb's threads and the
merges that run meanwhile included) for the ClickHouse ones, timed like
end_to_end from the first insert to the last one returning.

With --rounds N the cases alternate N times (floors, passthrough, decoded, ...)
and each figure is the median of its rounds, for a machine that is not quiet.
Prints one JSON object. A benchmark, not a test: it never fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status  # noqa: E402

if TYPE_CHECKING:
    from collector import CollectorConfig

SERVICES = ("frontend", "cart", "inventory")


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _attributes(rng: random.Random, service: str, kind: str, route: str) -> list[KeyValue]:
    status = 500 if rng.random() < 0.02 else 200
    values: dict[str, str | int] = {
        "http.request.method": "GET",
        "http.route": route,
        "url.path": route + f"/{rng.randrange(10_000)}",
        "url.scheme": "http",
        "http.response.status_code": status,
        "server.address": f"{service}.mesh.local",
        "server.port": 8080,
        "network.protocol.version": "1.1",
        "user_agent.original": "python-requests/2.32",
        "meshlens.direction": "inbound" if kind == "server" else "outbound",
        "client.address": f"10.0.{rng.randrange(255)}.{rng.randrange(255)}",
        "tls.peer": f"spiffe://mesh.local/ns/default/sa/{service}",
        "meshlens.route": f"{service}-default",
    }
    if kind == "client":
        values["peer.service"] = service
        values["network.peer.address"] = f"10.1.0.{rng.randrange(255)}"
        values["network.peer.port"] = 15006
    return [_kv(k, v) for k, v in values.items()]


def payload(rng: random.Random, spans: int, start_ns: int) -> bytes:
    """An export request of about `spans` spans: frontend -> cart -> inventory traces."""
    request = ExportTraceServiceRequest()
    scopes = {}
    for service in SERVICES:
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(
            [_kv("service.name", service), _kv("service.version", "v1"),
             _kv("service.namespace", "default"), _kv("host.name", f"{service}-0")]
        )  # fmt: skip
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "meshlens.proxy"
        scopes[service] = scope.spans
    made = 0
    while made < spans:
        trace_id = rng.randbytes(16)
        parent = b""
        t = start_ns + made * 1000
        for depth, service in enumerate(SERVICES):
            server_id = rng.randbytes(8)
            duration = rng.randrange(1_000_000, 50_000_000) // (depth + 1)
            route = f"/{service}"
            scopes[service].append(
                Span(trace_id=trace_id, span_id=server_id, parent_span_id=parent,
                     name="GET " + route,
                     kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=t,
                     end_time_unix_nano=t + duration,
                     attributes=_attributes(rng, service, "server", route), status=Status())
            )  # fmt: skip
            made += 1
            if depth + 1 < len(SERVICES):
                client_id = rng.randbytes(8)
                callee = SERVICES[depth + 1]
                scopes[service].append(
                    Span(trace_id=trace_id, span_id=client_id, parent_span_id=server_id,
                         name="GET /" + callee, kind=Span.SPAN_KIND_CLIENT,
                         start_time_unix_nano=t + 100, end_time_unix_nano=t + duration - 100,
                         attributes=_attributes(rng, callee, "client", "/" + callee),
                         status=Status())
                )  # fmt: skip
                made += 1
                parent = client_id
    return request.SerializeToString()


def floor(payloads: list[bytes], *, passthrough: bool = False) -> dict[str, float]:
    from collector import decode_protobuf
    from collector.translate.otlp_passthrough import decode_passthrough

    def count(payload: bytes) -> int:
        if passthrough:
            batch = decode_passthrough(payload)
            assert batch is not None, "a bench payload that cannot be passed through"
            return len(batch)
        return len(decode_protobuf(payload))

    cpu_before, started = time.process_time(), time.perf_counter()
    spans = sum(count(p) for p in payloads)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    return {
        "spans": spans, "seconds": round(elapsed, 3), "spans_per_s": round(spans / elapsed),
        "cpu_us_per_span": round(cpu / spans * 1e6, 1),
    }  # fmt: skip


async def _exported(port: int) -> float:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        for line in (await response.text()).splitlines():
            if line.startswith("meshlens_collector_exported_spans_total "):
                return float(line.split()[1])
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid`, all its threads (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _send(
    payloads: list[bytes], http_port: int, admin_port: int, total: int, pid: int
) -> dict:
    import aiohttp

    refused = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for p in payloads:
        queue.put_nowait(p)

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal refused
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                async with session.post(
                    f"http://127.0.0.1:{http_port}/v1/traces", data=body,
                    headers={"Content-Type": "application/x-protobuf"},
                ) as response:  # fmt: skip
                    await response.read()
                    if response.status == 200:
                        break
                    refused += 1
                    await asyncio.sleep(0.05)

    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(sender(session) for _ in range(4)))
    sent = time.perf_counter() - started
    while await _exported(admin_port) < total:
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    return {
        "spans": total, "seconds": round(elapsed, 3), "spans_per_s": round(total / elapsed),
        "collector_cpu_us_per_span": round(cpu / total * 1e6, 1),
        "accepted_in_s": round(sent, 3), "refused_requests": refused,
    }  # fmt: skip


def collector_config() -> CollectorConfig:
    """The benchmarked collector's config; its batch_max_spans sizes the insert floors."""
    from collector import CollectorConfig

    return CollectorConfig(
        http_port=0, grpc_port=0, admin_port=0, queue_spans=400_000,
        batch_spans=16_384, batch_timeout_s=0.2, pairing_wait_s=2.0,
    )  # fmt: skip


def serve(storage: str, *, passthrough: bool) -> None:
    from collector import ClickHouseExporter, Collector
    from storage import open_store

    async def run() -> None:
        store = open_store(storage)
        config = collector_config()
        collector = Collector(config, ClickHouseExporter(store, otlp_passthrough=passthrough))
        assert collector.otlp_passthrough is passthrough
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        await collector.start()
        print(f"ready {collector.http_port} {collector.admin_port}", flush=True)
        await stopping.wait()
        await collector.stop()
        store.close()

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


def end_to_end(
    payloads: list[bytes], total: int, cores: tuple[int, int], *, passthrough: bool
) -> dict:
    """One collector process on cores[0], loaded from this process on cores[1]."""
    collector_core, load_core = cores
    os.sched_setaffinity(0, {load_core})
    directory = tempfile.mkdtemp(prefix="meshlens-bench-")
    command = [sys.executable, __file__, "--serve", f"chdb://{directory}"]
    if not passthrough:
        command.append("--decoded")
    if shutil.which("taskset"):
        command = ["taskset", "-c", str(collector_core), *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        # taskset execs the collector: the process started is the collector's
        return asyncio.run(_send(payloads, int(ready[1]), int(ready[2]), total, process.pid))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


CPU_PER_SPAN = ("cpu_us_per_span", "collector_cpu_us_per_span")


def median_run(runs: list[dict]) -> dict:
    """The median round (spans/s), with every round's spans/s and CPU per span, and
    the median CPU per span, when there were several."""
    if len(runs) == 1:
        return runs[0]
    ordered = sorted(runs, key=lambda run: run["spans_per_s"])
    figures = {
        **ordered[len(ordered) // 2],
        "spans_per_s": round(statistics.median(run["spans_per_s"] for run in runs)),
        "rounds_spans_per_s": [run["spans_per_s"] for run in runs],
    }
    for key in CPU_PER_SPAN:
        if key in runs[0]:
            figures[key] = round(statistics.median(run[key] for run in runs), 1)
            figures[f"rounds_{key}"] = [run[key] for run in runs]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="spans per request")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the cases N times")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--decoded", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, passthrough=not args.decoded)
        return
    all_cores = sorted(os.sched_getaffinity(0))
    cores = (all_cores[0], all_cores[-1])
    rng = random.Random(7)
    start_ns = time.time_ns()
    payloads = [
        payload(rng, args.batch, start_ns + i * 10**9) for i in range(args.spans // args.batch)
    ]
    from bench.collector_clickhouse_insert import export_batches, insert_floor
    from collector import decode_protobuf

    counts = [len(decode_protobuf(p)) for p in payloads]
    total = sum(counts)
    max_spans = collector_config().export_batch_max_spans
    batches = export_batches(payloads, counts, max_spans)
    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        os.sched_setaffinity(0, {cores[0]})
        runs.setdefault("floor", []).append(floor(payloads))
        runs.setdefault("floor_passthrough", []).append(floor(payloads, passthrough=True))
        os.sched_setaffinity(0, {cores[1]})  # waiting only, off the inserting core
        for name, bare in (("clickhouse_insert", False), ("clickhouse_insert_bare", True)):
            runs.setdefault(name, []).append(insert_floor(batches, total, cores[0], bare=bare))
        for name, passthrough in (("passthrough", True), ("decoded", False)):
            result = end_to_end(payloads, total, cores, passthrough=passthrough)
            runs.setdefault(name, []).append(result)
    figures = {name: median_run(results) for name, results in runs.items()}
    through, decoded = figures["passthrough"], figures["decoded"]
    print(json.dumps({
        "benchmark": "collector",
        "spans_per_request": args.batch,
        "request_bytes_avg": round(sum(map(len, payloads)) / len(payloads)),
        "cores": {"collector": cores[0], "load": cores[1]},
        "rounds": args.rounds,
        "floor_decode_only": figures["floor"],
        "floor_passthrough_facts_only": figures["floor_passthrough"],
        "insert_max_spans": max_spans,
        "floor_clickhouse_insert_full_schema": figures["clickhouse_insert"],
        "floor_clickhouse_insert_bare_table": figures["clickhouse_insert_bare"],
        "end_to_end_chdb_span_metrics_service_graph": through,
        "end_to_end_decoded_in_python": decoded,
        "ratio_end_to_end_to_floor": round(
            through["spans_per_s"] / figures["floor"]["spans_per_s"], 3
        ),
        "ratio_end_to_end_to_clickhouse_insert": round(
            through["spans_per_s"] / figures["clickhouse_insert"]["spans_per_s"], 3
        ),
        "ratio_passthrough_to_decoded": round(
            through["spans_per_s"] / decoded["spans_per_s"], 3
        ),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
