"""Circuit breaking per destination: caps on requests, connections and waiters.

Three limits, as Envoy's cluster circuit breakers, each answered with 503 and an
``x-meshlens-reason`` saying which one overflowed:

- ``max_requests``: requests admitted to the destination at once (including
  those waiting in backoff or for a connection) -> ``overflow_max_requests``;
- ``max_connections``: upstream connections carrying a request at once; an
  attempt over it waits for one to be released (HTTP/1.1 carries one request
  per connection; idle keep-alive connections are bounded by the pool);
- ``max_pending``: attempts waiting for a connection -> ``overflow_max_pending``,
  or ``overflow_max_connections`` when ``max_pending`` is 0 (no queue at all).

Only counters and a FIFO of waiters: no locks, one event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque

from proxy.resilience.config import CircuitBreakerConfig

OVERFLOW_MAX_REQUESTS = "overflow_max_requests"
OVERFLOW_MAX_PENDING = "overflow_max_pending"
OVERFLOW_MAX_CONNECTIONS = "overflow_max_connections"


class CircuitBreaker:
    __slots__ = ("_waiters", "config", "connections", "overflows", "requests")

    def __init__(self, config: CircuitBreakerConfig) -> None:
        self.config = config
        self.requests = 0
        self.connections = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.overflows: dict[str, int] = {OVERFLOW_MAX_REQUESTS: 0, OVERFLOW_MAX_PENDING: 0,
                                          OVERFLOW_MAX_CONNECTIONS: 0}

    @property
    def pending(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def try_admit(self) -> str | None:
        """Admit a request (then call :meth:`finish`), or the overflow reason."""
        limit = self.config.max_requests
        if limit is not None and self.requests >= limit:
            return self._overflow(OVERFLOW_MAX_REQUESTS)
        self.requests += 1
        return None

    def finish(self) -> None:
        self.requests -= 1

    async def acquire_connection(self) -> str | None:
        """A connection slot for one attempt (then :meth:`release_connection`), or why not."""
        limit = self.config.max_connections
        if limit is None or (self.connections < limit and not self.pending):
            self.connections += 1
            return None
        max_pending = self.config.max_pending
        if max_pending is not None and self.pending >= max_pending:
            return self._overflow(OVERFLOW_MAX_PENDING if max_pending else
                                  OVERFLOW_MAX_CONNECTIONS)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # release_connection hands its slot over: the count stays
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release_connection()  # handed over just as we were cancelled
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return None

    def release_connection(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.connections -= 1

    def _overflow(self, reason: str) -> str:
        self.overflows[reason] += 1
        return reason
