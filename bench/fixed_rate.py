"""Open-loop HTTP/1.1 load at a fixed rate (wrk2 is not in Debian), latency percentiles.

Each request has an intended start time (t0 + i / rate); its latency runs from
that time to the end of its response, so a stall delays the requests queued
behind it and shows in the percentiles (no coordinated omission). Requests go
over a pool of keep-alive connections, one thread each: a thread takes the next
intended time, sleeps until it, sends, reads the answer, and takes the next.
While a request stalls the other threads keep to the schedule; when all of them
are busy, the requests wait and their wait counts. Prints one JSON object.

Why threads and not an event loop: an event loop's timers wake up to a
millisecond late (epoll takes whole milliseconds, and so do libuv's timers), and
since latency runs from the intended time that lateness (0 to 1 ms) was in every
figure: nginx answering from memory measured p90 0.85 ms, of which 0.05 ms was
nginx. ``time.sleep`` is ``clock_nanosleep``, and the thread's timer slack is set
to 1 ns (``prctl``; the default 50 us is added to every sleep), so a request
starts within some 10 us of its time.

Excluded from the measured window: connection setup. Every connection is opened
and warmed by ``WARM_UP_REQUESTS`` requests on all of them at once, so that the
proxies behind it open (and, over mTLS, handshake) their upstream connections
concurrently as well, before the first measured request. What the window
measures is the steady state over kept-alive connections.

    python bench/fixed_rate.py --url http://127.0.0.1:8080/ --rate 1000 --duration 10
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

WARM_UP_REQUESTS = 400  # before the measured window, spread over the connections
PR_SET_TIMERSLACK = 29


def precise_sleeps() -> None:
    """Ask the kernel to wake this thread's sleeps on time (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)


class Connection:
    """One keep-alive connection that sends ``request`` and reads each answer whole."""

    def __init__(self, address: tuple[str, int], request: bytes) -> None:
        self.address = address
        self.request = request
        self.sock = self._connect()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def reconnect(self) -> None:
        self.sock.close()
        self.sock = self._connect()

    def exchange(self) -> None:
        """Send the request; return once the answer's head and body are read."""
        sock = self.sock
        sock.sendall(self.request)
        data = b""
        while (end := data.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the answer's head")
            data += chunk
        length = 0
        for line in data[:end].split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        missing = end + 4 + length - len(data)
        while missing > 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside the answer's body")
            missing -= len(chunk)

    def close(self) -> None:
        self.sock.close()


def run(url: str, rate: float, duration: float, connections: int,
        host: str | None) -> dict[str, float]:
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    request = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host or parts.netloc}\r\n\r\n"
               .encode())
    total = int(rate * duration)
    schedule = itertools.count()  # next() is atomic under the GIL
    latencies: list[list[float]] = [[] for _ in range(connections)]  # one list per thread
    errors = [0] * connections
    start = [0.0]
    warmed = threading.Barrier(connections + 1)
    started = threading.Barrier(connections + 1)

    def worker(n: int) -> None:
        precise_sleeps()
        conn = Connection(address, request)
        try:
            for _ in range(max(2, WARM_UP_REQUESTS // connections)):
                conn.exchange()
            warmed.wait()
            started.wait()
            while (i := next(schedule)) < total:
                intended = start[0] + i / rate
                delay = intended - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                try:
                    conn.exchange()
                except (OSError, ValueError):
                    errors[n] += 1
                    conn.reconnect()
                    continue
                latencies[n].append(time.perf_counter() - intended)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True)
               for n in range(connections)]
    for thread in threads:
        thread.start()
    warmed.wait()  # every connection open and warm
    start[0] = time.perf_counter() + 0.01
    started.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start[0]
    merged = sorted(itertools.chain.from_iterable(latencies))

    def pct(p: float) -> float:
        return round(merged[min(len(merged) - 1, int(p / 100 * len(merged)))] * 1e3, 3)

    return {"target_rate": rate, "achieved_rate": round(len(merged) / elapsed, 1),
            "requests": len(merged), "errors": sum(errors), "p50_ms": pct(50),
            "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": pct(100)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--host", help="Host header (default: from the URL)")
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.rate, args.duration, args.connections, args.host)))


if __name__ == "__main__":
    main()
