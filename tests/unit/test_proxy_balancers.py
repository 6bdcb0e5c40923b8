"""Pure logic of the route and balance stages: matching, version splits,
balancers, panic mode and outlier ejection on a fake clock."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from proxy.balance import LeastRequest, PeakEwma, RoundRobin, observe_latency
from proxy.clock import FakeClock
from proxy.forward import Outcome
from proxy.health.endpoint_state import EndpointState
from proxy.health.outlier_ejection import OutlierEjection
from proxy.http_codec import Framing, RequestHead
from proxy.routing.destination_config import (
    DestinationConfig,
    Endpoint,
    LabeledEndpoint,
    OutlierDetectionConfig,
)
from proxy.routing.match import RequestMatcher
from proxy.routing.route_config import Route, RouteMatch, StringMatch, WeightedVersion
from proxy.routing.table import RouteTable


def _head(method: bytes = b"GET", headers: list[tuple[bytes, bytes]] | None = None
          ) -> RequestHead:
    return RequestHead(method, b"/", "1.1", headers or [], True, Framing.NONE, None)


def _states(count: int) -> list[EndpointState]:
    return [EndpointState(Endpoint("10.0.0.1", 1000 + i)) for i in range(count)]


@pytest.mark.parametrize("spec, value, expected", [
    (StringMatch(exact="/a"), "/a", True), (StringMatch(exact="/a"), "/ab", False),
    (StringMatch(prefix="/a"), "/ab", True), (StringMatch(prefix="/a"), "/b", False),
    (StringMatch(regex="/a[0-9]+"), "/a12", True), (StringMatch(regex="/a[0-9]+"), "/a1x", False),
    (StringMatch(present=True), None, False), (StringMatch(present=False), None, True),
])
def test_path_match_kinds(spec: StringMatch, value: str | None, expected: bool) -> None:
    matcher = RequestMatcher(RouteMatch(headers=(("x-v", spec),)))
    headers = [(b"X-V", value.encode())] if value is not None else []
    assert matcher(_head(headers=headers), "/") is expected
    if value is not None and spec.present is None:
        assert RequestMatcher(RouteMatch(path=spec))(_head(), value) is expected


def test_every_condition_must_hold_and_cookies_are_parsed() -> None:
    matcher = RequestMatcher(RouteMatch(methods=("POST",),
                                        cookies=(("beta", StringMatch(exact="yes")),)))
    cookie = [(b"Cookie", b"a=1; beta=yes"), (b"cookie", b"beta=no")]
    assert matcher(_head(b"POST", cookie), "/")
    assert not matcher(_head(b"GET", cookie), "/")
    assert not matcher(_head(b"POST", [(b"Cookie", b"beta=no")]), "/")
    assert not matcher(_head(b"POST", [(b"Cookie", b"Beta=yes")]), "/")  # names are exact


def test_round_robin_skips_nothing_it_is_not_given() -> None:
    states = _states(3)
    rr = RoundRobin()
    assert [rr.pick(states) for _ in range(6)] == states * 2
    assert {rr.pick(states[:2]) for _ in range(4)} == set(states[:2])


def test_least_request_never_picks_the_busier_of_two() -> None:
    idle, busy = _states(2)
    busy.outstanding = 5
    balancer = LeastRequest(random.Random(1))
    assert {balancer.pick([idle, busy]) for _ in range(50)} == {idle}
    # with many endpoints the busiest one can only win against an equally busy one
    many = _states(10)
    many[0].outstanding = 100
    assert many[0] not in {balancer.pick(many) for _ in range(500)}


def test_peak_ewma_jumps_to_peaks_and_decays_towards_fast_answers() -> None:
    clock = FakeClock(start=0.0)
    fast, slow = _states(2)
    observe_latency(fast, 0.001, 0.0)
    observe_latency(slow, 0.050, 0.0)
    balancer = PeakEwma(random.Random(1), clock)
    assert {balancer.pick([fast, slow]) for _ in range(20)} == {fast}
    fast.outstanding = 60  # 1 ms x 61 in flight costs more than 50 ms x 1
    assert balancer.pick([fast, slow]) is slow
    observe_latency(fast, 0.100, 1.0)
    assert fast.rtt_estimate == 0.100  # a peak counts at once
    observe_latency(fast, 0.001, 11.0)  # then decays: e^-1 of the way left after 10 s
    assert fast.rtt_estimate == pytest.approx(0.100 * 0.3679 + 0.001 * 0.6321, rel=1e-3)
    unmeasured = EndpointState(Endpoint("10.0.0.9", 1))
    unmeasured.outstanding = 1
    assert balancer.cost(unmeasured, 0.0) > balancer.cost(slow, 0.0)


def test_outlier_ejection_growing_time_and_max_percent() -> None:
    clock = FakeClock(start=0.0)
    states = _states(4)
    config = OutlierDetectionConfig(consecutive_5xx=3, consecutive_connect_failures=2,
                                    base_ejection_time=10.0, max_ejection_percent=25)
    ejection = OutlierEjection("catalog", config, states, clock)
    first, second = states[0], states[1]
    assert ejection.record(first, 500, None) is None
    assert ejection.record(first, 200, None) is None  # a success resets the count
    assert ejection.record(first, 503, None) is None
    assert ejection.record(first, 502, "upstream_reset") is None
    ejected = ejection.record(first, 500, None)
    assert ejected is not None and ejected.reason == "consecutive_5xx"
    assert ejected.seconds == 10.0 and first.ejected_until == 10.0
    assert not first.usable(9.99) and first.usable(10.0)
    # 25% of 4: one at a time; the second waits for the first to come back
    for _ in range(2):
        assert ejection.record(second, None, "upstream_connect_failure") is None
    clock.advance(10.0)
    ejected = ejection.record(second, None, "upstream_connect_failure")
    assert ejected is not None and ejected.reason == "consecutive_connect_failures"
    clock.advance(10.0)
    for _ in range(3):
        ejected = ejection.record(first, 500, None)
    assert ejected is not None and ejected.times_ejected == 2 and ejected.seconds == 20.0


def test_outlier_ejection_always_allows_one_and_zero_percent_allows_none() -> None:
    clock = FakeClock()
    config = OutlierDetectionConfig(consecutive_5xx=1, max_ejection_percent=10)
    (only,) = _states(1)
    assert OutlierEjection("a", config, [only], clock).record(only, 500, None) is not None
    zero = OutlierDetectionConfig(consecutive_5xx=1, max_ejection_percent=0)
    (other,) = _states(1)
    assert OutlierEjection("a", zero, [other], clock).record(other, 500, None) is None


def _catalog(*versions: str, outliers: bool = True) -> DestinationConfig:
    detection = OutlierDetectionConfig(consecutive_5xx=1, max_ejection_percent=100)
    return DestinationConfig(service="catalog", endpoints=tuple(
        LabeledEndpoint(Endpoint("10.0.0.1", 1000 + i), (("version", v),))
        for i, v in enumerate(versions)), outlier_detection=detection if outliers else None)


def test_split_weights_and_retries_stay_on_the_chosen_version() -> None:
    split = (WeightedVersion("v1", 90), WeightedVersion("v2", 10))
    table = RouteTable([Route(host="catalog", service="catalog", split=split)],
                       [_catalog("v1", "v1", "v2", outliers=False)], rng=random.Random(3))
    route = table.match("catalog", _head(), "/")
    assert route is not None
    counts: Counter[str | None] = Counter()
    for _ in range(2000):
        picks = route.picks()
        first = picks()
        version = picks.version
        counts[version] += 1
        retried = picks()  # a retry: another endpoint of the same version
        assert picks.version == version
        assert (first.port == 1002) == (retried.port == 1002) == (version == "v2")
        picks.finish(Outcome(200))
    assert 1700 < counts["v1"] < 1900 and counts["v1"] + counts["v2"] == 2000
    assert all(s.outstanding == 0 for s in table.destinations["catalog"].states)


def test_panic_mode_uses_every_endpoint_when_none_is_usable() -> None:
    clock = FakeClock()
    table = RouteTable([Route(host="catalog", service="catalog")], [_catalog("v1", "v1")],
                       clock=clock)
    route = table.match("catalog", _head(), "/")
    assert route is not None
    for _ in range(2):
        picks = route.picks()
        picks()
        assert len(picks.finish(Outcome(500))) == 1
    assert all(s.ejected(clock.monotonic()) for s in table.destinations["catalog"].states)
    assert {route.picks()() for _ in range(4)} == {Endpoint("10.0.0.1", 1000),
                                                  Endpoint("10.0.0.1", 1001)}


def test_a_new_table_takes_over_the_state_of_persisting_endpoints() -> None:
    clock = FakeClock()
    old = RouteTable([Route(host="catalog", service="catalog")], [_catalog("v1", "v2")],
                     clock=clock)
    kept = old.destinations["catalog"].states[0]
    kept.ejected_until = clock.monotonic() + 30
    new = RouteTable([Route(host="catalog", service="catalog")], [_catalog("v1", "v2", "v3")],
                     clock=clock, previous=old)
    assert new.destinations["catalog"].states[0] is kept
    assert new.destinations["catalog"].states[2] not in old.destinations["catalog"].states
    with pytest.raises(ValueError, match="no endpoint of 'catalog' has version 'v9'"):
        RouteTable([Route(host="catalog", service="catalog",
                          split=(WeightedVersion("v9", 100),))], [_catalog("v1")])


def test_every_attempt_is_reported_with_its_own_end() -> None:
    clock = FakeClock()
    table = RouteTable([Route(host="catalog", service="catalog")], [_catalog("v1", "v1")],
                       clock=clock, rng=random.Random(1))
    route = table.match("catalog", _head(), "/")
    assert route is not None
    states = table.destinations["catalog"].states
    picks = route.picks()
    picks()
    picks.report(200, None)  # a retried attempt that was answered: no ejection
    picks()
    picks()  # picked again without a report: counted as a retried failure, ejected
    assert sum(s.ejected(clock.monotonic()) for s in states) == 1
    picks.ended(200)  # the usual end, without an Outcome
    assert len(picks.finish(None)) == 1  # the request's ejection; nothing left to report
    assert all(s.outstanding == 0 for s in states)
    cancelled = route.picks()
    cancelled()
    assert cancelled.finish(None) == ()  # the downstream went away: no latency, no ejection
    assert all(s.outstanding == 0 for s in states)


def test_reused_picks_choose_each_request_its_version() -> None:
    split = (WeightedVersion("v1", 50), WeightedVersion("v2", 50))
    table = RouteTable([Route(host="catalog", service="catalog", split=split)],
                       [_catalog("v1", "v2", outliers=False)], rng=random.Random(5))
    route = table.match("catalog", _head(), "/")
    assert route is not None
    picks = route.picks()
    versions = set()
    for _ in range(20):
        first = picks.first(route)  # a new request on the same picks
        assert picks() == first  # its retry stays on the version chosen for it
        versions.add(picks.version)
        picks.ended(200)
    assert versions == {"v1", "v2"}
    assert all(s.outstanding == 0 for s in table.destinations["catalog"].states)
