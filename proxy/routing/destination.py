"""A destination at run time: its endpoints' states, balancers and health.

``pick(version)`` chooses among the endpoints of one version subset (or all of
them) that are usable: healthy by active checks and not ejected. When none is
usable every endpoint of the subset is a candidate (panic mode, as Envoy does):
sending to a maybe-broken endpoint beats failing every request for sure.
``report`` closes the pick: in-flight count, latency estimate, outlier detection.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

from proxy.balance import Balancer, make_balancer, observe_latency
from proxy.clock import Clock, SystemClock
from proxy.health.active_check import ActiveHealthCheck
from proxy.health.endpoint_state import EndpointState
from proxy.health.outlier_ejection import Ejection, OutlierEjection
from proxy.routing.destination_config import DestinationConfig, Endpoint


def time_source(clock: Clock) -> Callable[[], float]:
    """``clock.monotonic``; the system clock's without its Python wrapper, a frame less
    for each of the three readings of every request (pick, latency, its age)."""
    return time.monotonic if type(clock) is SystemClock else clock.monotonic


class Destination:
    def __init__(self, config: DestinationConfig, clock: Clock, rng: random.Random, *,
                 previous: Mapping[Endpoint, EndpointState] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if not config.endpoints:
            raise ValueError(f"destination {config.service!r} has no endpoints")
        self.config = config
        self.service = config.service
        self._clock = clock
        self._now = time_source(clock)
        previous = previous or {}
        self.states = tuple(previous.get(e.address) or EndpointState(e.address)
                            for e in config.endpoints)
        by_address = {s.address: s for s in self.states}
        subsets: dict[str | None, tuple[EndpointState, ...]] = {None: self.states}
        for version in sorted(config.versions()):
            subsets[version] = tuple(by_address[e.address] for e in config.endpoints
                                     if e.version == version)
        self._subsets = subsets
        self._balancers: dict[str | None, Balancer] = {
            version: make_balancer(config.lb, rng, clock) for version in subsets}
        self.outliers = (OutlierEjection(config.service, config.outlier_detection, self.states,
                                         clock)
                         if config.outlier_detection is not None else None)
        self.health_check = (ActiveHealthCheck(config.service, config.health_check,
                                               self.states, clock, ssl_context)
                             if config.health_check is not None else None)

    def has_version(self, version: str) -> bool:
        return version in self._subsets

    def pick(self, version: str | None = None) -> EndpointState:
        """An endpoint of ``version`` (None: any); counted in flight until reported."""
        members = self._subsets[version]
        if len(members) == 1:  # healthy or not (panic mode), it is the one
            state = members[0]
        else:
            now = self._now()
            candidates = [s for s in members if s.usable(now)] or members
            state = self._balancers[version].pick(candidates)
        state.outstanding += 1
        return state

    def report(self, state: EndpointState, status: int | None, error: str | None,
               latency: float | None) -> Ejection | None:
        """The end of one pick: ``latency`` None when there is nothing to learn from
        (the downstream went away, the request was cancelled)."""
        state.outstanding -= 1
        if latency is None:
            return None
        if error is None:  # a fast failure must not look like a fast endpoint
            observe_latency(state, latency, self._now())
        if self.outliers is None:
            return None
        return self.outliers.record(state, status, error)

    async def start(self) -> None:
        if self.health_check is not None:
            await self.health_check.start()

    async def stop(self) -> None:
        if self.health_check is not None:
            await self.health_check.stop()

    def snapshot(self) -> dict[str, Any]:
        now = self._clock.monotonic()
        endpoints = []
        for labeled, state in zip(self.config.endpoints, self.states, strict=True):
            endpoints.append({**state.snapshot(now), "labels": dict(labeled.labels)})
        return {"service": self.service, "lb": self.config.lb, "endpoints": endpoints}
