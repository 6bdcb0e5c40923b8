"""A retry budget: retries may add at most ``ratio`` extra load over a window.

Like Linkerd's budget (and Finagle's before it): every request deposits
``ratio`` of a token, every retry withdraws one, deposits expire after
``window`` seconds, and ``min_per_second`` retries are always allowed so a
route with little traffic can still retry. Under a sustained outage retries
are therefore capped at about 20% extra upstream load instead of multiplying it
by the attempt count. Counts are kept in ten buckets per window.
"""

from __future__ import annotations

from collections import deque

from proxy.clock import Clock
from proxy.resilience.config import RetryBudgetConfig

_BUCKETS = 10


class RetryBudget:
    __slots__ = ("_buckets", "_clock", "_requests", "_retries", "_width", "config", "exhausted")

    def __init__(self, config: RetryBudgetConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._width = config.window / _BUCKETS
        # [bucket number, requests, retries], oldest first
        self._buckets: deque[list[int]] = deque()
        self._requests = 0
        self._retries = 0
        self.exhausted = 0  # retries refused, for the admin port

    def _current(self) -> list[int]:
        number = int(self._clock.monotonic() / self._width)
        buckets = self._buckets
        while buckets and buckets[0][0] <= number - _BUCKETS:
            _, requests, retries = buckets.popleft()
            self._requests -= requests
            self._retries -= retries
        if not buckets or buckets[-1][0] != number:
            buckets.append([number, 0, 0])
        return buckets[-1]

    def record_request(self) -> None:
        """Count an original request (not a retry): it deposits ``ratio`` of a retry."""
        self._current()[1] += 1
        self._requests += 1

    def try_withdraw(self) -> bool:
        """Spend one retry if the budget has room; False (and counted) when it has not."""
        bucket = self._current()
        allowed = self.config.ratio * self._requests \
            + self.config.min_per_second * self.config.window
        if self._retries + 1 > allowed:
            self.exhausted += 1
            return False
        bucket[2] += 1
        self._retries += 1
        return True

    @property
    def window_counts(self) -> tuple[int, int]:
        """(requests, retries) in the current window."""
        self._current()
        return self._requests, self._retries
