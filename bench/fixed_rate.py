"""Open-loop HTTP/1.1 load at a fixed rate (wrk2 is not in Debian), latency percentiles.

Each request has an intended start time (t0 + i / rate); its latency runs from
that time to the end of its response, so a stall delays the requests queued
behind it and shows in the percentiles (no coordinated omission). Requests go
over a pool of keep-alive connections. Prints one JSON object.

Excluded from the measured window: connection setup. Every client connection is
opened, then warmed by rounds of requests sent on all of them at once, so that
the proxies behind it open (and, over mTLS, handshake) their upstream
connections concurrently as well, before the first measured request; a warm-up
one request at a time would leave one upstream connection per proxy and the
others would handshake inside the window, in the p99. What the window measures
is the steady state over kept-alive connections (a reconnect after an error,
counted in ``errors``, is still inside it).

    python bench/fixed_rate.py --url http://127.0.0.1:8080/ --rate 1000 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit

WARM_UP_REQUESTS = 400  # before the measured window, in rounds of one per connection


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               request: bytes) -> None:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)


async def run(url: str, rate: float, duration: float, connections: int,
              host: str | None) -> dict[str, float]:
    parts = urlsplit(url)
    address, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host or parts.netloc}\r\n\r\n"
               .encode())
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection(address, port))
    latencies: list[float] = []
    errors = 0
    pending: set[asyncio.Task[None]] = set()

    async def issue(intended: float) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            await _one(*conn, request)
            latencies.append(time.perf_counter() - intended)
            idle.put_nowait(conn)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            idle.put_nowait(await asyncio.open_connection(address, port))

    for _ in range(max(2, WARM_UP_REQUESTS // connections)):
        # all connections busy at once: each proxy on the way opens as many upstream
        # connections (TLS handshakes included) as the window may use
        await asyncio.gather(*(issue(time.perf_counter()) for _ in range(connections)))
    latencies.clear()
    errors = 0
    total = int(rate * duration)
    start = time.perf_counter()
    for i in range(total):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(issue(intended))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        _, writer = idle.get_nowait()
        writer.close()
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e3, 3)

    return {"target_rate": rate, "achieved_rate": round(len(latencies) / elapsed, 1),
            "requests": len(latencies), "errors": errors, "p50_ms": pct(50),
            "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": pct(100)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--host", help="Host header (default: from the URL)")
    args = parser.parse_args()
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(run(args.url, args.rate, args.duration, args.connections,
                                args.host))))


if __name__ == "__main__":
    main()
