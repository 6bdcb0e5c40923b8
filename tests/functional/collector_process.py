"""A collector in its own process, for tests that kill it: `python -m
tests.functional.collector_process --storage URL --spool DIR [--storage-down]`.

Prints one line `ready HTTP_PORT ADMIN_PORT` once listening; SIGTERM stops it
gracefully. `--count SERVICE` instead prints the spans of SERVICE in storage and
its requests in red_1m, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from collector import ClickHouseExporter, Collector, CollectorConfig, RetryConfig
from collector.testing import FailingStore
from storage import RedQuery, open_store


async def serve(args: argparse.Namespace) -> None:
    store = open_store(args.storage)
    failing = FailingStore(store)
    if args.storage_down:
        failing.take_away()
    config = CollectorConfig(
        http_port=0, grpc_port=0, admin_port=0, batch_timeout_s=0.05, spool_dir=args.spool,
        retry=RetryConfig(max_attempts=2, initial_backoff_s=0.05, max_backoff_s=0.2),
        pairing_wait_s=0.2,
    )  # fmt: skip
    collector = Collector(config, ClickHouseExporter(failing))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    await collector.start()
    print(f"ready {collector.http_port} {collector.admin_port}", flush=True)
    try:
        await stopping.wait()
    finally:
        await collector.stop()
        store.close()


def count(args: argparse.Namespace) -> None:
    with open_store(args.storage) as store:
        red = store.red_summary(RedQuery(service=args.count))
        print(store.count_spans(args.count), red.requests, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", required=True)
    parser.add_argument("--spool")
    parser.add_argument("--storage-down", action="store_true")
    parser.add_argument("--count")
    args = parser.parse_args()
    if args.count:
        count(args)
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
