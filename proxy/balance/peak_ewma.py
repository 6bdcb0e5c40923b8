"""Peak EWMA: latency-aware balancing, as in Finagle and Linkerd.

Each endpoint keeps a moving average of its latency that jumps up at once to a
slower observation (the peak) and decays towards faster ones with time constant
``decay_time``. Two random candidates are compared by cost = latency estimate
x (requests in flight + 1), so a slow endpoint and a busy one both lose. The
estimate also decays towards zero while an endpoint is not used, so a slow
endpoint is tried again now and then and can show that it recovered.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from proxy.balance.least_request import two_choices
from proxy.clock import Clock
from proxy.health.endpoint_state import EndpointState

DECAY_TIME = 10.0  # seconds; Finagle's default
# an endpoint without a measurement yet that already has requests in flight
# might be a black hole: keep new requests away from it (Finagle's penalty)
UNMEASURED_BUSY_COST = 1e9


def observe_latency(state: EndpointState, latency: float, now: float,
                    decay_time: float = DECAY_TIME) -> None:
    """Fold one measured latency (seconds) into the endpoint's peak EWMA."""
    if latency > state.rtt_estimate:
        state.rtt_estimate = latency
    else:
        weight = math.exp(-max(0.0, now - state.rtt_updated) / decay_time)
        state.rtt_estimate = state.rtt_estimate * weight + latency * (1.0 - weight)
    state.rtt_updated = now


class PeakEwma:
    __slots__ = ("_clock", "_decay_time", "_rng")

    def __init__(self, rng: random.Random, clock: Clock, decay_time: float = DECAY_TIME) -> None:
        self._rng = rng
        self._clock = clock
        self._decay_time = decay_time

    def cost(self, state: EndpointState, now: float) -> float:
        estimate = state.rtt_estimate
        if estimate == 0.0:
            return UNMEASURED_BUSY_COST if state.outstanding else 0.0
        idle = max(0.0, now - state.rtt_updated)
        return estimate * math.exp(-idle / self._decay_time) * (state.outstanding + 1)

    def pick(self, candidates: Sequence[EndpointState]) -> EndpointState:
        if len(candidates) == 1:
            return candidates[0]
        a, b = two_choices(candidates, self._rng)
        now = self._clock.monotonic()
        return a if self.cost(a, now) <= self.cost(b, now) else b
