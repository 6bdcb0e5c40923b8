"""One route's resilience, wrapped around the forward stage.

In order: local rate limit (429), fault injection (delay, abort), circuit
breaker admission (503), mirroring, then attempts with retries, backoff and the
retry budget under the route's timeouts. Each decision is a span event on the
hop. A :class:`RouteGuard` keeps state (tokens, counters, budget), so
:class:`RouteGuards` hands out the same guard again while a route's host and
policy stay the same across config swaps. Circuit breakers belong to the
destination: routes to the same service with the same limits share one.
"""

from __future__ import annotations

import random

from proxy.accept import Exchange
from proxy.clock import Clock, SystemClock
from proxy.faults import ABORT_REASON, FaultInjector
from proxy.forward import REASON_HEADER, Outcome, fail
from proxy.http_codec import Framing, Headers
from proxy.mirror import EndpointResolver, Mirror
from proxy.rate_limit import REASON as RATE_LIMITED
from proxy.rate_limit import TokenBucket, retry_after_header
from proxy.resilience.attempts import AttemptPicks, Attempts
from proxy.resilience.circuit_breaker import CircuitBreaker
from proxy.resilience.config import CircuitBreakerConfig, RoutePolicy
from proxy.resilience.replay_body import ReplayBody
from proxy.resilience.retry_budget import RetryBudget
from proxy.resilience.retry_policy import RetryPolicy
from proxy.telemetry import Hop
from proxy.upstream_pool import UpstreamPool


class RouteGuard:
    def __init__(self, policy: RoutePolicy, pool: UpstreamPool, resolve: EndpointResolver,
                 clock: Clock, rng: random.Random,
                 breaker: CircuitBreaker | None = None) -> None:
        self.policy = policy
        self._pool = pool
        self._clock = clock
        self.bucket = TokenBucket.from_config(policy.rate_limit, clock) \
            if policy.rate_limit else None
        self.faults = FaultInjector(policy.fault, rng) if policy.fault else None
        self.breaker = breaker
        self.retry = RetryPolicy(policy.retry, rng) if policy.retry else None
        self.budget = RetryBudget(policy.retry.budget, clock) if policy.retry else None
        self.mirror = Mirror(policy.mirror, resolve, pool, rng) if policy.mirror else None

    async def forward(self, exchange: Exchange, hop: Hop, pick: AttemptPicks,
                      target: bytes, headers: Headers) -> Outcome:
        """Answer ``exchange`` through the route's policy; ``pick`` chooses each
        attempt's endpoint."""
        if self.bucket is not None and (wait := self.bucket.try_acquire()) > 0:
            hop.add_event(RATE_LIMITED, {"meshlens.retry_after_ms": int(wait * 1000)})
            exchange.respond(429, b"rate_limited\n", [(REASON_HEADER, RATE_LIMITED.encode()),
                                                       (b"Retry-After", retry_after_header(wait))])
            return Outcome(429, RATE_LIMITED)
        if self.faults is not None:
            fault = self.faults.decide()
            if fault.delay:
                hop.add_event("fault.delay", {"meshlens.fault.delay_ms": int(fault.delay * 1000)})
                await self._clock.sleep(fault.delay)
            if fault.abort_status is not None:
                hop.add_event("fault.abort", {"http.response.status_code": fault.abort_status})
                return fail(exchange, fault.abort_status, ABORT_REASON)
        breaker = self.breaker
        if breaker is not None and (overflow := breaker.try_admit()) is not None:
            hop.add_event("circuit_breaker.overflow", {"meshlens.reason": overflow})
            return fail(exchange, 503, overflow)
        try:
            return await self._forward(exchange, hop, pick, target, headers)
        finally:
            if breaker is not None:
                breaker.finish()

    async def _forward(self, exchange: Exchange, hop: Hop, pick: AttemptPicks,
                       target: bytes, headers: Headers) -> Outcome:
        head = exchange.head
        retry, mirror = self.retry, self.mirror
        mirrored = mirror is not None and mirror.sample()
        if mirror is not None and mirrored and head.framing is Framing.NONE:
            hop.add_event("mirror", {"meshlens.mirror.host": mirror.config.host})
            mirror.submit(head, target, headers, b"")
            mirrored = False
        retrying = retry is not None and retry.allows_method(head.method)
        replay: ReplayBody | None = None
        if head.framing is not Framing.NONE and (retrying or mirrored):
            limit = max(retry.config.buffer_bytes if retry is not None and retrying else 0,
                        mirror.config.max_body_bytes if mirror is not None and mirrored else 0)
            replay = ReplayBody(exchange.body, limit)
        attempts = Attempts(
            exchange, hop, self._pool, pick, target, headers, replay,
            retry if retrying else None, self.budget, self.breaker, self.policy.timeout,
            self._clock,
        )
        try:
            return await attempts.run()
        finally:
            if mirror is not None and mirrored and replay is not None:
                hop.add_event("mirror", {"meshlens.mirror.host": mirror.config.host})
                mirror.submit(head, target, headers, replay.complete_body())

    async def stop(self) -> None:
        if self.mirror is not None:
            await self.mirror.stop()


class RouteGuards:
    """Guards by route host, kept across config swaps while the policy is unchanged."""

    def __init__(self, pool: UpstreamPool, resolve: EndpointResolver,
                 clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self._pool = pool
        self._resolve = resolve
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._guards: dict[str, RouteGuard] = {}
        self._breakers: dict[tuple[str, CircuitBreakerConfig], CircuitBreaker] = {}
        self._retired: list[RouteGuard] = []
        # the policy object each route had when last seen: an unchanged route is
        # recognised by identity, without comparing policies field by field
        self._seen: dict[str, RoutePolicy] = {}

    def for_route(self, key: str, service: str, policy: RoutePolicy) -> RouteGuard | None:
        """The guard of a route, or None when it has no policy at all (plain forwarding).

        ``key`` names the route across config versions (its host, or host and
        position when several routes share a host)."""
        guard = self._guards.get(key)
        if self._seen.get(key) is policy:
            return guard
        self._seen[key] = policy
        if guard is not None and guard.policy == policy:
            return guard
        if guard is not None:  # its mirror copies finish on their own; stop() cancels them
            self._retired = [g for g in self._retired if g.mirror and g.mirror.in_flight]
            self._retired.append(guard)
        if policy == _NO_POLICY:
            self._guards.pop(key, None)
            return None
        breaker = None
        if policy.circuit_breaker is not None:
            shared = (service, policy.circuit_breaker)
            breaker = self._breakers.get(shared) or CircuitBreaker(policy.circuit_breaker)
            self._breakers[shared] = breaker
        guard = self._guards[key] = RouteGuard(policy, self._pool, self._resolve,
                                                self._clock, self._rng, breaker)
        return guard

    async def stop(self) -> None:
        guards = [*self._guards.values(), *self._retired]
        self._guards.clear()
        self._seen.clear()
        self._retired.clear()
        for guard in guards:
            await guard.stop()


_NO_POLICY = RoutePolicy()
