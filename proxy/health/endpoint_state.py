"""What the proxy knows about one endpoint: load, latency, health, ejection.

One :class:`EndpointState` per (destination, address) lives across config swaps:
the new route table takes over the states of the endpoints that persist, so
in-flight requests, latency estimates and ejections carry over.
"""

from __future__ import annotations

from typing import Any

from proxy.routing.destination_config import Endpoint


class EndpointState:
    __slots__ = (
        "active_failures",
        "active_healthy",
        "active_successes",
        "address",
        "consecutive_5xx",
        "consecutive_connect_failures",
        "ejected_until",
        "outstanding",
        "rtt_estimate",
        "rtt_updated",
        "times_ejected",
    )

    def __init__(self, address: Endpoint) -> None:
        self.address = address
        self.outstanding = 0  # requests picked and not yet reported
        self.rtt_estimate = 0.0  # peak EWMA of latency, seconds; 0 until measured
        self.rtt_updated = 0.0
        self.active_healthy = True  # optimistic until the active check says otherwise
        self.active_successes = 0
        self.active_failures = 0
        self.ejected_until = 0.0  # monotonic time; in the past when not ejected
        self.times_ejected = 0
        self.consecutive_5xx = 0
        self.consecutive_connect_failures = 0

    def usable(self, now: float) -> bool:
        return self.active_healthy and self.ejected_until <= now

    def ejected(self, now: float) -> bool:
        return self.ejected_until > now

    def snapshot(self, now: float) -> dict[str, Any]:
        """Plain data for the admin port's ``/clusters``."""
        return {
            "address": str(self.address),
            "healthy": self.active_healthy,
            "ejected": self.ejected(now),
            "ejected_for_s": round(max(0.0, self.ejected_until - now), 3),
            "times_ejected": self.times_ejected,
            "outstanding": self.outstanding,
            "rtt_ewma_ms": round(self.rtt_estimate * 1000, 3),
        }

    def __repr__(self) -> str:
        return f"EndpointState({self.address})"
