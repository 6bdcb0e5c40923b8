"""Fault injection per route: a fixed delay and/or an abort for a share of requests.

Each request draws its own two numbers from ``rng`` (an injectable
``random.Random``, seeded in tests), one per fault, as Envoy's fault filter
does: a request may be delayed, aborted, both, or neither. The abort is a
response made by the proxy with ``x-meshlens-reason: fault_abort``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from proxy.resilience.config import FaultConfig

ABORT_REASON = "fault_abort"


@dataclass(frozen=True, slots=True)
class FaultDecision:
    delay: float = 0.0  # seconds to wait before going on (0: no delay)
    abort_status: int | None = None  # answer with this instead of forwarding


NO_FAULT = FaultDecision()


class FaultInjector:
    __slots__ = ("_rng", "aborted", "config", "delayed")

    def __init__(self, config: FaultConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self.delayed = 0
        self.aborted = 0

    def decide(self) -> FaultDecision:
        config = self.config
        delay = 0.0
        if config.delay > 0 and config.delay_percent > 0 \
                and self._rng.random() * 100.0 < config.delay_percent:
            delay = config.delay
            self.delayed += 1
        abort = None
        if config.abort_percent > 0 and self._rng.random() * 100.0 < config.abort_percent:
            abort = config.abort_status
            self.aborted += 1
        if delay == 0.0 and abort is None:
            return NO_FAULT
        return FaultDecision(delay, abort)
