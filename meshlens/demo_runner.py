"""Start the demo mesh for `meshlens up --demo`: apps, their sidecars, then the load.

The control plane runs in the `meshlens up` process and is already serving the
mesh :func:`write_demo_mesh` wrote; the sidecars bootstrap their certificates
from it as they start, so the demo runs on mTLS.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from demo.topology import DemoPorts, DemoProcess, DemoTopology, write_demo_mesh, write_demo_topology
from meshlens.child_processes import ChildGroup, ChildProcess
from meshlens.settings import Settings

READY_TIMEOUT_S = 30.0


def demo_dir(settings: Settings) -> Path:
    return settings.state_dir / "demo"


def prepare_demo_mesh(settings: Settings) -> tuple[DemoPorts, Path]:
    """Pick the demo's ports and write its mesh.yaml (and tokens) for the control plane."""
    ports = DemoPorts.pick_free()
    return ports, write_demo_mesh(demo_dir(settings), ports)


async def start_demo(
    children: ChildGroup,
    settings: Settings,
    *,
    otlp_endpoint: str,
    ports: DemoPorts,
    control_url: str,
    trust_bundle: Path,
) -> DemoTopology:
    """Start every demo process under `children`; returns the topology (URLs, mesh.yaml).

    The load generator starts only once every sidecar answers /ready (which
    means it has its certificate and listens), so the first requests do not fail
    while the mesh is still coming up.
    """
    topology = write_demo_topology(
        demo_dir(settings),
        ports,
        otlp_endpoint,
        loadgen_rate=settings.demo_rate,
        control_url=control_url,
        trust_bundle=trust_bundle,
    )
    logs = settings.state_dir / "logs"

    def child(process: DemoProcess) -> ChildProcess:
        return ChildProcess(process.name, process.argv, logs / f"{process.name}.log")

    for process in (*topology.apps, *topology.sidecars):
        await children.start(child(process))
    await _wait_ready(children, list(topology.admin_urls.values()))
    await children.start(child(topology.loadgen))
    return topology


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
