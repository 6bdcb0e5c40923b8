"""Start the demo mesh for `meshlens up --demo`: apps, their sidecars, then the load."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from demo.topology import DemoPorts, DemoProcess, write_demo_topology
from meshlens.child_processes import ChildGroup, ChildProcess
from meshlens.settings import Settings

READY_TIMEOUT_S = 30.0


async def start_demo(children: ChildGroup, settings: Settings, *, otlp_endpoint: str) -> str:
    """Start every demo process under `children`; returns the frontend's URL.

    The load generator starts only once every sidecar answers /ready, so the first
    requests do not fail while the mesh is still coming up.
    """
    topology = write_demo_topology(
        settings.state_dir / "demo",
        DemoPorts.pick_free(),
        otlp_endpoint,
        loadgen_rate=settings.demo_rate,
    )
    logs = settings.state_dir / "logs"

    def child(process: DemoProcess) -> ChildProcess:
        return ChildProcess(process.name, process.argv, logs / f"{process.name}.log")

    for process in (*topology.apps, *topology.sidecars):
        await children.start(child(process))
    await _wait_ready(children, list(topology.admin_urls.values()))
    await children.start(child(topology.loadgen))
    return topology.frontend_url


async def _wait_ready(children: ChildGroup, admin_urls: list[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = set(admin_urls)
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while pending:
            for url in sorted(pending):
                try:
                    async with session.get(f"{url}/ready") as resp:
                        if resp.status == 200:
                            pending.discard(url)
                except (aiohttp.ClientError, TimeoutError):
                    pass
            exited = children.exited()
            if exited:
                first = exited[0]
                raise RuntimeError(
                    f"{first.name} exited with {first.returncode}:\n{first.log_tail()}"
                )
            if pending and time.monotonic() > deadline:
                waited = f"{READY_TIMEOUT_S:.0f} s"
                raise RuntimeError(f"sidecars not ready after {waited}: {sorted(pending)}")
            if pending:
                await asyncio.sleep(0.2)
