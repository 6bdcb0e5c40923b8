"""Local rate limiting per route: a token bucket, answered with 429 and Retry-After.

The bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per
second; each request takes one. A request that finds it empty is answered by
the proxy with 429, ``Retry-After`` (whole seconds until a token, at least 1)
and ``x-meshlens-reason: rate_limited``; it never reaches the upstream.
"""

from __future__ import annotations

import math

from proxy.clock import Clock
from proxy.resilience.config import RateLimitConfig

REASON = "rate_limited"


class TokenBucket:
    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "limited", "rate")

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock.monotonic()
        self.limited = 0  # requests refused, for the admin port

    @classmethod
    def from_config(cls, config: RateLimitConfig, clock: Clock) -> TokenBucket:
        return cls(config.rate, config.burst, clock)

    def try_acquire(self) -> float:
        """Take a token: 0.0 when granted, else the seconds until one is due."""
        now = self._clock.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        self.limited += 1
        return (1.0 - self._tokens) / self.rate

    @property
    def tokens(self) -> float:
        return self._tokens


def retry_after_header(wait: float) -> bytes:
    """Retry-After takes whole seconds; round up so a client that obeys gets a token."""
    return str(max(1, math.ceil(wait))).encode()
