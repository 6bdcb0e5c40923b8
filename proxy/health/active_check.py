"""Active HTTP health checks: probe every endpoint of a destination on an interval.

A probe is ``GET <path>`` on a fresh connection (TLS when the mesh uses it); a
2xx status within ``timeout`` is a success. ``unhealthy_threshold`` failures in
a row mark an endpoint unhealthy, ``healthy_threshold`` successes in a row mark
it healthy again. Endpoints start healthy and the first round runs at once, so
a dead endpoint is found within one timeout of the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Sequence

from proxy.clock import Clock
from proxy.health.endpoint_state import EndpointState
from proxy.routing.destination_config import HealthCheckConfig

log = logging.getLogger(__name__)


class ActiveHealthCheck:
    def __init__(self, service: str, config: HealthCheckConfig,
                 states: Sequence[EndpointState], clock: Clock,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.service = service
        self.config = config
        self._states = states
        self._clock = clock
        self._ssl = ssl_context
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self._request = (f"GET {config.path} HTTP/1.1\r\nHost: {service}\r\n"
                         "User-Agent: meshlens-health-check\r\nConnection: close\r\n\r\n"
                         ).encode("latin-1")

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check_once(self) -> None:
        """One probe of every endpoint, concurrently."""
        results = await asyncio.gather(*(self._probe(s) for s in self._states))
        for state, ok in zip(self._states, results, strict=True):
            self._record(state, ok)
        self.rounds += 1

    async def _run(self) -> None:
        while True:
            await self.check_once()
            await self._clock.sleep(self.config.interval)

    async def _probe(self, state: EndpointState) -> bool:
        try:
            return await asyncio.wait_for(self._exchange(state), self.config.timeout)
        except (TimeoutError, OSError, ValueError):
            return False

    async def _exchange(self, state: EndpointState) -> bool:
        address = state.address
        reader, writer = await asyncio.open_connection(address.host, address.port, ssl=self._ssl)
        try:
            writer.write(self._request)
            status_line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        parts = status_line.split(None, 2)
        return len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and \
            parts[1].isdigit() and 200 <= int(parts[1]) < 300

    def _record(self, state: EndpointState, ok: bool) -> None:
        config = self.config
        if ok:
            state.active_successes += 1
            state.active_failures = 0
            if not state.active_healthy and state.active_successes >= config.healthy_threshold:
                state.active_healthy = True
                log.info("%s: endpoint %s is healthy again", self.service, state.address)
        else:
            state.active_failures += 1
            state.active_successes = 0
            if state.active_healthy and state.active_failures >= config.unhealthy_threshold:
                state.active_healthy = False
                log.warning("%s: endpoint %s failed %d health checks: unhealthy", self.service,
                            state.address, state.active_failures)
