"""CPU cost per request of the sidecar's forwarding path, in process, noise-robust.

    python bench/proxy_cpu.py [--requests 20000] [--connections 16] [--repeats 5]

Wall-clock throughput on a shared machine swings with whatever else runs; CPU time
spent by this process per request does much less. One event loop (uvloop when
installed, as the sidecar runs) holds a tiny app (``200 ok`` from memory), two
sidecars and a keep-alive client over loopback. Cases:

- ``direct``: client -> app (the floor: client, app and kernel work);
- ``inbound``: client -> server sidecar inbound -> app (as bench/proxy.py);
- ``two_hop``: client -> client sidecar outbound -> server sidecar inbound -> app;

each with telemetry off and on (a span per request, every request sampled, RED
metrics, OTLP export every second to the app, which answers 200 to the POSTs).
Figures per request: ``loop_us`` is CPU time of the event-loop thread (the request
path, the export task included: it runs on the loop), ``process_us`` that of the
whole process (equal since there is no export thread);
``added_*`` subtract ``direct``. Each is the median of ``--repeats`` runs (min in
``*_min``). Prints JSON; never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httptools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy.config import SidecarConfig
from proxy.sidecar import Sidecar

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"


class App(asyncio.Protocol):
    """Answers every request with ``200 ok`` (the upstream, and the OTLP sink)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        assert self._transport is not None
        self._transport.write(_OK)


class Client(asyncio.Protocol):
    """One keep-alive connection sending requests back to back until the quota is met."""

    def __init__(self, request: bytes, run: Run) -> None:
        self._request = request
        self._run = run
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._status = 0
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def send(self) -> None:
        assert self._transport is not None
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_message_complete(self) -> None:
        if self._status != 200:
            self._run.errors += 1
        if self._run.next():
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self._run.lost()


class Run:
    """``total`` requests over the clients; ``done`` resolves when all are answered."""

    def __init__(self, total: int, done: asyncio.Future[None]) -> None:
        self.remaining = total
        self.outstanding = 0
        self.errors = 0
        self._done = done

    def next(self) -> bool:
        self.outstanding -= 1
        if self.remaining > 0:
            self.remaining -= 1
            self.outstanding += 1
            return True
        if self.outstanding == 0 and not self._done.done():
            self._done.set_result(None)
        return False

    def lost(self) -> None:
        if not self._done.done():
            self._done.set_exception(ConnectionError("connection lost mid-run"))


async def load(port: int, host: str, total: int, connections: int) -> int:
    """Send ``total`` requests over ``connections`` keep-alive connections; errors."""
    loop = asyncio.get_running_loop()
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\n\r\n".encode()
    done: asyncio.Future[None] = loop.create_future()
    run = Run(total, done)
    clients: list[Client] = []
    for _ in range(connections):
        _, client = await loop.create_connection(lambda: Client(request, run),
                                                         "127.0.0.1", port)
        clients.append(client)
    for client in clients[:total]:
        run.remaining -= 1
        run.outstanding += 1
        client.send()
    await done
    for client in clients:
        client.closing = True
        if client._transport is not None:
            client._transport.close()
    await asyncio.sleep(0)
    return run.errors


async def measure(port: int, host: str, total: int, connections: int,
                  repeats: int) -> dict[str, float]:
    await load(port, host, min(total, 2000), connections)  # warm-up: pools, caches
    loop_us: list[float] = []
    process_us: list[float] = []
    errors = 0
    for _ in range(repeats):
        thread0, process0 = time.thread_time(), time.process_time()
        errors += await load(port, host, total, connections)
        loop_us.append((time.thread_time() - thread0) / total * 1e6)
        process_us.append((time.process_time() - process0) / total * 1e6)
    return {"loop_us": round(statistics.median(loop_us), 1),
            "loop_us_min": round(min(loop_us), 1),
            "process_us": round(statistics.median(process_us), 1),
            "process_us_min": round(min(process_us), 1), "errors": errors}


def sidecar_config(name: str, app_port: int, telemetry: bool, otlp: str,
                   routes: list[dict[str, Any]] | None = None) -> SidecarConfig:
    return SidecarConfig.from_mapping({
        "service": name, "version": "v1", "app_port": app_port, "inbound_port": 0,
        "outbound_port": 0, "admin_port": 0, "telemetry": telemetry, "otlp_endpoint": otlp,
        "routes": routes or []})


async def bench(total: int, connections: int, repeats: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    app_server = await loop.create_server(App, "127.0.0.1", 0)
    app_port = app_server.sockets[0].getsockname()[1]
    otlp = f"http://127.0.0.1:{app_port}"
    results: dict[str, Any] = {
        "direct": await measure(app_port, "app", total, connections, repeats)}
    for telemetry in (False, True):
        suffix = "on" if telemetry else "off"
        server = Sidecar(sidecar_config("server", app_port, telemetry, otlp))
        await server.start()
        client: Sidecar | None = None
        try:
            results[f"inbound_telemetry_{suffix}"] = await measure(
                server.inbound_port, "server", total, connections, repeats)
            client = Sidecar(sidecar_config(
                "client", 9, telemetry, otlp,
                [{"host": "server", "endpoints": [f"127.0.0.1:{server.inbound_port}"]}]))
            await client.start()
            results[f"two_hop_telemetry_{suffix}"] = await measure(
                client.outbound_port, "server", total, connections, repeats)
        finally:
            if client is not None:
                await client.stop()
            await server.stop()
    app_server.close()
    direct = results["direct"]
    for name, figures in results.items():
        if name != "direct":
            figures["added_loop_us"] = round(figures["loop_us"] - direct["loop_us"], 1)
            figures["added_process_us"] = round(figures["process_us"] - direct["process_us"], 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="runs per case (median)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    factory = None
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        results = runner.run(bench(args.requests, args.connections, args.repeats))
    print(json.dumps({"python": platform.python_version(), "loop": args.loop,
                      "requests": args.requests, "connections": args.connections,
                      "repeats": args.repeats, "cases": results}, indent=2))


if __name__ == "__main__":
    main()
