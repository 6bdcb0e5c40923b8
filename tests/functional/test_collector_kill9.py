"""A collector killed with -9 while storage is down keeps what it spooled: the next
collector on the same spool directory replays it, and storage has it exactly once
(spans and red_1m). Collectors run as separate processes, each with the chdb
directory to itself in turn."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp

from tests.otlp_payloads import encode_request
from tests.spans import BASE_NS, MS, make_span

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> tuple[subprocess.Popen[str], int, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.functional.collector_process", *args],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline().split()
    assert line[:1] == ["ready"], line
    return process, int(line[1]), int(line[2])


async def metric(session: aiohttp.ClientSession, admin_port: int, name: str) -> float:
    async with session.get(f"http://127.0.0.1:{admin_port}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def wait_metric(
    session: aiohttp.ClientSession, admin_port: int, name: str, value: float
) -> None:
    deadline = time.monotonic() + 15
    while (seen := await metric(session, admin_port, name)) < value:
        assert time.monotonic() < deadline, f"{name} is {seen}, waited for {value}"
        await asyncio.sleep(0.05)


async def test_kill_9_then_restart_replays_the_spool_once(tmp_path: Path) -> None:
    storage, spool = f"chdb://{tmp_path / 'chdb'}", str(tmp_path / "spool")
    service = f"kill9-{uuid.uuid4().hex[:8]}"
    first, http_port, admin_port = start("--storage", storage, "--spool", spool, "--storage-down")
    try:
        async with aiohttp.ClientSession() as session:
            for request in range(5):
                spans = [
                    make_span(service_name=service, timestamp_ns=BASE_NS + request * MS + i)
                    for i in range(40)
                ]
                async with session.post(
                    f"http://127.0.0.1:{http_port}/v1/traces",
                    data=encode_request(spans),
                    headers={"Content-Type": "application/x-protobuf"},
                ) as response:
                    assert response.status == 200
            name = "meshlens_collector_spooled_spans_total"
            await wait_metric(session, admin_port, name, 200)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert list(Path(spool).glob("*.spool"))

    second, _, admin_port = start("--storage", storage, "--spool", spool)
    try:
        async with aiohttp.ClientSession() as session:
            # A record is counted as replayed once stored and deleted from the spool.
            await wait_metric(session, admin_port, "meshlens_collector_replayed_spans_total", 200)
            assert await metric(session, admin_port, "meshlens_collector_spool_records") == 0
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    assert not list(Path(spool).glob("*.spool"))

    counted = subprocess.run(
        [sys.executable, "-m", "tests.functional.collector_process",
         "--storage", storage, "--count", service],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert counted == ["200", "200"]
