"""Balance stage: pick one endpoint among a destination's usable ones.

A balancer sees only candidates (the subset's endpoints that are healthy and
not ejected, or all of them in panic mode) and returns one; load and latency
live in each :class:`~proxy.health.endpoint_state.EndpointState`, so a balancer
keeps no per-endpoint state of its own and survives config swaps.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from proxy.balance.least_request import LeastRequest
from proxy.balance.peak_ewma import PeakEwma, observe_latency
from proxy.balance.round_robin import RoundRobin
from proxy.clock import Clock
from proxy.health.endpoint_state import EndpointState

__all__ = ["Balancer", "LeastRequest", "PeakEwma", "RoundRobin", "make_balancer",
           "observe_latency"]


class Balancer(Protocol):
    def pick(self, candidates: Sequence[EndpointState]) -> EndpointState: ...


def make_balancer(policy: str, rng: random.Random, clock: Clock) -> Balancer:
    """``round_robin``, ``least_request`` or ``ewma`` (see destination config)."""
    if policy == "round_robin":
        return RoundRobin()
    if policy == "least_request":
        return LeastRequest(rng)
    if policy == "ewma":
        return PeakEwma(rng, clock)
    raise ValueError(f"unknown load balancing policy {policy!r}")
