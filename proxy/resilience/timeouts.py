"""Per-route timeouts: to the response head (504) and for the whole exchange.

``response`` bounds the time from the request being routed to the response
head being ready, across every retry and backoff: when it passes, the proxy
answers 504 with ``x-meshlens-reason: timeout`` (Envoy's "upstream request
timeout"). ``total`` also bounds the response body: once the head has gone
downstream the only honest signal left is closing the connection. Deadlines are
absolute times of the sidecar's :class:`~proxy.clock.Clock`, so one deadline spans
several attempts and a ``FakeClock`` drives them in tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.clock import Clock, ClockTimeout
from proxy.resilience.config import TimeoutConfig

REASON = "timeout"
PER_TRY_REASON = "per_try_timeout"


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Absolute ``clock`` times (None: unbounded) for the response head and the whole
    exchange."""

    head: float | None
    total: float | None
    clock: Clock

    @classmethod
    def start(cls, config: TimeoutConfig | None, clock: Clock) -> Deadlines:
        if config is None or (config.response is None and config.total is None):
            return cls(None, None, clock)
        now = clock.monotonic()
        total = now + config.total if config.total is not None else None
        head = now + config.response if config.response is not None else total
        if head is not None and total is not None:
            head = min(head, total)
        return cls(head, total, clock)

    def head_timeout(self) -> ClockTimeout:
        return ClockTimeout(self.clock, self.head)

    def total_timeout(self) -> ClockTimeout:
        return ClockTimeout(self.clock, self.total)

    def attempt_timeout(self, per_try: float | None) -> ClockTimeout:
        """A per-try bound that never outlives the head deadline (which fires as its own)."""
        if per_try is None:
            return ClockTimeout(self.clock, None)
        return ClockTimeout(self.clock, self.clock.monotonic() + per_try)


