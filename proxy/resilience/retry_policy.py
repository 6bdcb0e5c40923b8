"""Which failed attempts are retried, and how long to wait before the next one.

``retry_on`` names conditions as Envoy does: ``connect-failure``, ``reset``
(the upstream closed before answering), ``timeout`` (per-try), ``5xx``,
``gateway-error`` (502, 503, 504) and single status codes. Only idempotent
methods are retried unless the route says ``non_idempotent: true``. The wait
before retry ``n`` is exponential backoff with full jitter (AWS architecture
blog): uniform in ``[0, min(max, base * 2**(n-1))]``, so that clients that failed
together do not come back together.
"""

from __future__ import annotations

import random

from proxy.resilience.config import IDEMPOTENT_METHODS, RetryConfig

# proxy failure reasons (x-meshlens-reason) to the retry_on condition they meet
_FAILURE_CONDITIONS = {
    "upstream_connect_failure": "connect-failure",
    "upstream_identity_mismatch": "connect-failure",  # refused after the handshake, unsent
    "upstream_reset": "reset",
    "upstream_protocol_error": "reset",
    "per_try_timeout": "timeout",
}
_GATEWAY_ERRORS = frozenset({502, 503, 504})


class RetryPolicy:
    __slots__ = ("_conditions", "_idempotent", "_rng", "_statuses", "config")

    def __init__(self, config: RetryConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self._conditions = frozenset(c for c in config.retry_on if not c.isdigit())
        self._statuses = frozenset(int(c) for c in config.retry_on if c.isdigit())
        self._idempotent = frozenset(m.encode() for m in IDEMPOTENT_METHODS)

    @property
    def max_attempts(self) -> int:
        return self.config.attempts

    def allows_method(self, method: bytes) -> bool:
        return self.config.non_idempotent or method in self._idempotent

    def retry_reason_for_failure(self, reason: str) -> str | None:
        """The condition a failed attempt (no response) meets, if the route retries it."""
        condition = _FAILURE_CONDITIONS.get(reason)
        if condition is None:
            return None
        if condition in self._conditions:
            return condition
        if condition != "timeout" and self._conditions & {"5xx", "gateway-error"}:
            return condition  # Envoy counts connect failures and resets as both
        return None

    def retry_reason_for_status(self, status: int) -> str | None:
        """The condition an upstream response meets, if the route retries it."""
        if status in self._statuses:
            return str(status)
        if status >= 500 and "5xx" in self._conditions:
            return str(status)
        if status in _GATEWAY_ERRORS and "gateway-error" in self._conditions:
            return str(status)
        return None

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2 ** (retry - 1))
        return self._rng.uniform(0.0, ceiling)
