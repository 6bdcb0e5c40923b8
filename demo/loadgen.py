"""Steady load on the frontend's sidecar inbound port, without a traceparent,
so the frontend sidecar's SERVER span is each trace's root.

    python -m demo.loadgen --url http://127.0.0.1:15006/ --rate 5 [--count N] [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections import Counter
from dataclasses import dataclass, field

import aiohttp


@dataclass
class LoadStats:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0  # no HTTP answer at all

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status < 400)


async def generate_load(url: str, *, rate: float = 5.0, count: int | None = None,
                        duration: float | None = None, host: str = "frontend",
                        stop: asyncio.Event | None = None) -> LoadStats:
    """Send ``rate`` requests/s until ``count`` were sent, ``duration`` passed or ``stop``."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    stats = LoadStats()
    deadline = loop.time() + duration if duration is not None else None
    interval = 1.0 / rate
    in_flight: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def one() -> None:
            try:
                async with session.get(url, headers={"Host": host}) as response:
                    await response.read()
                    stats.statuses[response.status] += 1
            except (TimeoutError, aiohttp.ClientError):
                stats.failures += 1

        next_at = loop.time()
        while not stop.is_set() and (count is None or stats.sent < count):
            if deadline is not None and loop.time() >= deadline:
                break
            task = loop.create_task(one())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            stats.sent += 1
            next_at += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_at - loop.time()))
        if in_flight:
            await asyncio.gather(*in_flight)
    return stats


async def _main(args: argparse.Namespace) -> LoadStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return await generate_load(args.url, rate=args.rate, count=args.count,
                               duration=args.duration, stop=stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.loadgen")
    parser.add_argument("--url", required=True, help="the frontend sidecar's inbound URL")
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second")
    parser.add_argument("--count", type=int, default=None, help="stop after N requests")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    stats = asyncio.run(_main(parser.parse_args(argv)))
    print(f"sent {stats.sent}, statuses {dict(stats.statuses)}, failures {stats.failures}")


if __name__ == "__main__":
    main()
