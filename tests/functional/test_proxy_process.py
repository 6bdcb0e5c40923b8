"""``python -m proxy --config FILE`` as a process: ready, then a clean SIGTERM exit."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp

from demo.topology import DemoPorts, sidecar_config


async def test_sidecar_process_becomes_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    import yaml

    ports = DemoPorts.pick_free()
    config = sidecar_config("catalog", ports, "http://127.0.0.1:9")
    config["telemetry"] = False
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "--config", str(path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{ports.catalog.admin}/ready"
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(url) as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("sidecar never became ready")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if process.stderr is not None:
            await process.stderr.read()


async def test_invalid_config_exits_2_listing_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("service: x\nroutes:\n  - host: y\n    endpoints: ['abc']\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "--config", str(path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    text = stderr.decode()
    assert "version: required" in text and "app_port: required" in text
    assert "routes[0].endpoints[0]: expected host:port, got 'abc'" in text
