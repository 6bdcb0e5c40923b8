"""Instructions per request of the sidecar's request path: no sockets, deterministic.

    python bench/proxy_path.py [--requests 4800] [--valgrind]

On a shared machine even CPU time per request (bench/proxy_cpu.py) moves by
10-30 % between runs: the kernel's loopback work is charged to whoever runs.
Here the sidecar's listener, handler and upstream pool run as they do in
production, but the transports are fakes that keep what is written: a batch of
16 keep-alive connections sends a GET each (16 bytes of headers), the upstream
answers ``200 ok`` (5 headers, as nginx does) on pooled connections, and the
loop turns until every answer has gone back. With ``--valgrind`` the script runs
itself twice under ``valgrind --tool=cachegrind`` (apt-get install valgrind),
with two request counts, and prints user-space instructions per request (the
difference over the difference): the same number on every run of the same code,
so a change of 1 % shows. Without it, it prints thread CPU time per request.
Cases: inbound and outbound, telemetry off and on (spans recorded and queued,
not exported: see bench/proxy_cpu.py for the whole process), and ``floor``: the
same harness around the thinnest relay httptools allows (bench/floor_relay.py's
protocol classes: parse the request, write its head upstream, parse the answer,
write it back; no checks, routing, pooling policy or telemetry), what any Python
proxy on these parts pays; bench/proxy.py runs the same classes over sockets.
``inbound_traceparent`` and ``outbound_traceparent``: telemetry on, and every
request carries a ``traceparent`` (its span is a child of the caller's).
``export_encode``: what the export task pays per span, in instructions (or thread
CPU) per span rather than per request: 1024 spans recorded by the two
``telemetry_on`` cases (half each) are encoded into an OTLP
``ExportTraceServiceRequest`` by ``ExportWorker._encode`` (a slice at a time,
yielding to the loop between slices), over and over; the POST is not counted.
``--cases`` runs some of them. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.floor_relay import FloorDownstream, FloorUpstream
from proxy.accept import Downstream, Listener
from proxy.config import Endpoint, Route, SidecarConfig
from proxy.inbound import InboundHandler
from proxy.outbound import OutboundHandler
from proxy.route import RouteTable
from proxy.telemetry import Hop, Telemetry
from proxy.testing import RecordingTransport
from proxy.upstream_pool import UpstreamConnection, UpstreamPool

REQUEST = b"GET / HTTP/1.1\r\nHost: server\r\nUser-Agent: bench\r\n\r\n"
TRACED_REQUEST = (b"GET / HTTP/1.1\r\nHost: server\r\nUser-Agent: bench\r\ntraceparent: "
                  b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n")
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n")
CONNECTIONS = 16
CASES = [("floor", False)] + [(case, telemetry) for case in ("inbound", "outbound")
                              for telemetry in (False, True)] \
    + [("inbound_traceparent", True), ("outbound_traceparent", True), ("export_encode", True)]
EXPORT_SPANS = 1024  # one full export batch, encoded over and over by export_encode


def never_dial(client: FloorDownstream, head: bytes) -> None:
    raise AssertionError("the floor's pool ran dry: every request has an idle upstream")


def floor_pairs() -> list[tuple[Any, RecordingTransport, Any, RecordingTransport]]:
    idle: list[FloorUpstream] = []
    pairs = []
    for _ in range(CONNECTIONS):
        upstream, up_transport = FloorUpstream(idle), RecordingTransport()
        upstream.connection_made(up_transport)  # type: ignore[arg-type]
        idle.append(upstream)
        downstream, down_transport = FloorDownstream(idle, never_dial), RecordingTransport()
        downstream.connection_made(down_transport)  # type: ignore[arg-type]
        pairs.append((downstream, down_transport, upstream, up_transport))
    return pairs


def sidecar_pairs(case: str, telemetry: Telemetry
                  ) -> list[tuple[Any, RecordingTransport, Any, RecordingTransport]]:
    config = SidecarConfig(service="server", version="v1", app_port=8080, inbound_port=15006,
                           telemetry=False)
    pool = UpstreamPool()
    handler: Any
    if case == "outbound":
        endpoint = Endpoint("127.0.0.1", 15006)
        handler = OutboundHandler(RouteTable([Route(host="server", service="server",
                                                    endpoints=("127.0.0.1:15006",))]),
                                  pool, telemetry)
    else:
        endpoint = Endpoint(config.app_host, config.app_port)
        handler = InboundHandler(config, pool, telemetry)
    listener = Listener(case, handler, "127.0.0.1", 0)
    pairs = []
    for _ in range(CONNECTIONS):
        upstream, up_transport = UpstreamConnection(endpoint, pool), RecordingTransport()
        upstream.connection_made(up_transport)  # type: ignore[arg-type]
        upstream.begin(head_request=False)  # as if it had answered a first request:
        upstream.data_received(RESPONSE)  # complete, kept alive, so the pool takes it
        pool.release(upstream)
        downstream, down_transport = Downstream(listener), RecordingTransport()
        downstream.connection_made(down_transport)  # type: ignore[arg-type]
        pairs.append((downstream, down_transport, upstream, up_transport))
    return pairs


async def round_trip(pairs: list[tuple[Any, RecordingTransport, Any, RecordingTransport]],
                     request: bytes) -> None:
    """One request on every connection, answered: written upstream, then back down."""
    for downstream, _, _, _ in pairs:
        downstream.data_received(request)
    while not all(up_out.out for _, _, _, up_out in pairs):
        await asyncio.sleep(0)
    for _, _, upstream, up_out in pairs:
        up_out.out.clear()
        upstream.data_received(RESPONSE)
    while not all(down_out.out for _, down_out, _, _ in pairs):
        await asyncio.sleep(0)
    for _, down_out, _, _ in pairs:
        down_out.out.clear()


async def run(case: str, telemetry_on: bool, total: int, repeats: int) -> float:
    """Thread CPU microseconds per request (median); with ``repeats`` 0, just ``total``."""
    if case == "export_encode":
        return await run_export(total, repeats)
    config = SidecarConfig(service="server", version="v1", app_port=8080, inbound_port=15006,
                           telemetry=False)
    telemetry = Telemetry(config)  # no export task: the request path only
    telemetry.enabled = telemetry_on
    request = REQUEST
    if case.endswith("_traceparent"):
        case, request = case.removesuffix("_traceparent"), TRACED_REQUEST
    pairs = floor_pairs() if case == "floor" else sidecar_pairs(case, telemetry)

    async def batch() -> None:
        await round_trip(pairs, request)
        telemetry.spans.clear()

    for _ in range(200 // CONNECTIONS):
        await batch()  # warm-up: caches, parsers kept for reuse
    if not repeats:
        for _ in range(total // CONNECTIONS):
            await batch()
        return 0.0
    runs = []
    for _ in range(repeats):
        started = time.thread_time()
        for _ in range(total // CONNECTIONS):
            await batch()
        runs.append((time.thread_time() - started) / total * 1e6)
    return statistics.median(runs)


async def recorded_spans(case: str, count: int) -> list[Hop]:
    """``count`` spans as the ``case`` (inbound or outbound, telemetry on) records them."""
    config = SidecarConfig(service="server", version="v1", app_port=8080, inbound_port=15006,
                           telemetry=False)
    telemetry = Telemetry(config)
    telemetry.enabled = True
    pairs = sidecar_pairs(case, telemetry)
    while len(telemetry.spans) < count:
        await round_trip(pairs, REQUEST)
    return list(telemetry.spans)[:count]


async def run_export(total: int, repeats: int) -> float:
    """Thread CPU microseconds per span encoded by the export task (see ``export_encode``)."""
    config = SidecarConfig(service="server", version="v1", app_port=8080, inbound_port=15006,
                           telemetry=True)  # an export worker, never started: nothing is posted
    worker = Telemetry(config).worker
    assert worker is not None
    half = EXPORT_SPANS // 2
    batch = await recorded_spans("inbound", half) + await recorded_spans("outbound", half)

    async def encode() -> None:  # ``total`` spans: full batches, then the rest
        for start in range(0, total, EXPORT_SPANS):
            await worker._encode(batch[:total - start])

    for _ in range(2):
        await worker._encode(batch)  # warm-up: the encoder's caches
    if not repeats:
        await encode()
        return 0.0
    runs = []
    for _ in range(repeats):
        started = time.thread_time()
        await encode()
        runs.append((time.thread_time() - started) / total * 1e6)
    return statistics.median(runs)


def loop_run(case: str, telemetry: bool, total: int, repeats: int) -> float:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run(case, telemetry, total, repeats))


def instructions(case: str, telemetry: bool, total: int) -> int:
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, __file__, "--one", case, "on" if telemetry else "off",
               "--requests", str(total)]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "0"}).stderr
    match = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if match is None:
        raise SystemExit(f"no instruction count from valgrind:\n{out}")
    return int(match.group(1).replace(",", ""))


def case_name(case: str, telemetry: bool) -> str:
    if case in ("inbound", "outbound"):
        return f"{case}_telemetry_{'on' if telemetry else 'off'}"
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4800)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median)")
    parser.add_argument("--valgrind", action="store_true",
                        help="instructions per request under cachegrind (deterministic)")
    parser.add_argument("--one", nargs=2, metavar=("CASE", "TELEMETRY"), help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs="+", metavar="NAME",
                        help="only these cases (e.g. floor inbound_telemetry_off)")
    args = parser.parse_args()
    if args.one:  # one untimed run, for valgrind to count
        loop_run(args.one[0], args.one[1] == "on", args.requests, 0)
        return
    cases = {case_name(case, telemetry): (case, telemetry) for case, telemetry in CASES}
    chosen = args.cases or list(cases)
    unknown = sorted(set(chosen) - set(cases))
    if unknown:
        raise SystemExit(f"unknown cases {unknown}; known: {sorted(cases)}")
    results: dict[str, Any] = {}
    if args.valgrind:
        # bytecode first: a stale .pyc compiled inside one of two runs that start
        # together would count in one count and not the other
        root = Path(__file__).resolve().parent.parent
        subprocess.run([sys.executable, "-m", "compileall", "-q",
                        *(str(root / d) for d in ("proxy", "control", "bench"))], check=True)
        # the counts do not depend on what else runs: two valgrinds at a time
        small, large = args.requests // 3, args.requests
        with ThreadPoolExecutor(max_workers=2) as pool:
            counts = {(name, n): pool.submit(instructions, *cases[name], n)
                      for name in chosen for n in (small, large)}
            for name in chosen:
                per_request = (counts[name, large].result()
                               - counts[name, small].result()) / (large - small)
                results[name] = {"instructions": round(per_request)}
    else:
        for name in chosen:
            results[name] = {"thread_us": round(loop_run(*cases[name], args.requests,
                                                         args.repeats), 2)}
    print(json.dumps({"python": sys.version.split()[0], "requests": args.requests,
                      "connections": CONNECTIONS, "cases": results}, indent=2))


if __name__ == "__main__":
    main()
