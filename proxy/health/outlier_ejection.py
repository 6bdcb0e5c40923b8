"""Outlier detection from live traffic, after Envoy's consecutive-failure ejection.

Every response (or failure to get one) from an endpoint is recorded. After
``consecutive_5xx`` server errors in a row (proxy-made upstream failures count
too) or ``consecutive_connect_failures`` failed connects in a row, the endpoint
is ejected for ``base_ejection_time`` times the number of times it has been
ejected (capped at ``max_ejection_time``). At most ``max_ejection_percent`` of
the destination's endpoints are out at once, but always at least one (as Envoy
does), so a destination of two may lose one. An ejected endpoint returns by
itself when its time is up: balancers compare ``ejected_until`` with the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proxy.clock import Clock
from proxy.health.endpoint_state import EndpointState
from proxy.routing.destination_config import OutlierDetectionConfig

CONNECT_FAILURE = "upstream_connect_failure"
# connects that failed, the handshake with a peer of the wrong identity among them
CONNECT_FAILURES = frozenset({CONNECT_FAILURE, "upstream_identity_mismatch"})
# proxy-made failures that mean the upstream did not answer properly
# (and an attempt that was retried: it got a retriable failure)
UPSTREAM_FAILURES = frozenset({*CONNECT_FAILURES, "upstream_reset", "upstream_protocol_error",
                               "attempt_retried"})


@dataclass(frozen=True, slots=True)
class Ejection:
    """One ejection, for a span event and the log."""

    service: str
    endpoint: str
    reason: str  # consecutive_5xx | consecutive_connect_failures
    seconds: float
    times_ejected: int

    def attributes(self) -> dict[str, str | int]:
        return {"meshlens.destination": self.service, "meshlens.endpoint": self.endpoint,
                "meshlens.ejection.reason": self.reason,
                "meshlens.ejection.ms": int(self.seconds * 1000),
                "meshlens.ejection.count": self.times_ejected}


class OutlierEjection:
    def __init__(self, service: str, config: OutlierDetectionConfig,
                 states: Sequence[EndpointState], clock: Clock) -> None:
        self.service = service
        self.config = config
        self._states = states
        self._clock = clock
        pct = config.max_ejection_percent
        self.max_ejected = max(1, len(states) * pct // 100) if pct > 0 else 0

    def record(self, state: EndpointState, status: int | None, error: str | None
               ) -> Ejection | None:
        """Count one outcome; returns the ejection it caused, if any."""
        connect_failure = error in CONNECT_FAILURES
        if not connect_failure and error not in UPSTREAM_FAILURES and \
                (status is None or status < 500):
            state.consecutive_5xx = 0
            state.consecutive_connect_failures = 0
            return None
        state.consecutive_5xx += 1
        if connect_failure:
            state.consecutive_connect_failures += 1
        config = self.config
        if state.consecutive_connect_failures >= config.consecutive_connect_failures:
            reason = "consecutive_connect_failures"
        elif state.consecutive_5xx >= config.consecutive_5xx:
            reason = "consecutive_5xx"
        else:
            return None
        now = self._clock.monotonic()
        if state.ejected(now):
            return None  # answers of requests sent before it was ejected
        if sum(1 for s in self._states if s.ejected(now)) >= self.max_ejected:
            return None  # counters stay: it goes out once another comes back
        state.times_ejected += 1
        seconds = min(config.base_ejection_time * state.times_ejected, config.max_ejection_time)
        state.ejected_until = now + seconds
        state.consecutive_5xx = 0
        state.consecutive_connect_failures = 0
        return Ejection(self.service, str(state.address), reason, seconds, state.times_ejected)
