"""RED counters: buckets, cardinality cap with an ``other`` series, exposition."""

from __future__ import annotations

import pytest

from proxy.metrics.prometheus import parse, render
from proxy.metrics.red import BUCKETS_MS, OTHER, RedMetrics, status_class


def _labels(route: str, klass: str = "2xx") -> tuple[str, str, str, str, str, str]:
    return ("outbound", "frontend", "catalog", route, "v1", klass)


def test_durations_land_in_inclusive_buckets() -> None:
    red = RedMetrics(clock_ns=lambda: 0)
    for ms in (0.5, 1.0, 1.5, 10.0, 20000.0):
        red.record(_labels("a"), ms)
    (series,) = red.snapshot().series
    assert series.count == 5 and series.sum_ms == pytest.approx(20013.0)
    assert series.buckets[0] == 2  # 0.5 and 1.0 are <= 1
    assert series.buckets[1] == 1  # 1.5 <= 2
    assert series.buckets[BUCKETS_MS.index(10)] == 1
    assert series.buckets[-1] == 1  # +Inf


def test_label_sets_past_the_cap_go_to_other_and_are_counted() -> None:
    red = RedMetrics(max_series=3, clock_ns=lambda: 0)
    for i in range(10):
        red.record(_labels(f"route-{i}"), 1.0)
    red.record(_labels("route-0"), 1.0)  # an existing series still gets its own count
    red.record(_labels("route-9", "5xx"), 1.0)
    snapshot = red.snapshot()
    counts = {s.labels: s.count for s in snapshot.series}
    assert len(counts) == 5  # 3 kept + other/2xx + other/5xx
    assert counts[_labels("route-0")] == 2
    assert counts[("outbound", OTHER, OTHER, OTHER, OTHER, "2xx")] == 7
    assert counts[("outbound", OTHER, OTHER, OTHER, OTHER, "5xx")] == 1
    assert snapshot.overflowed == 8
    samples = parse(render(snapshot))
    assert samples[("meshlens_proxy_red_overflow_total", frozenset())] == 8


def test_status_classes() -> None:
    assert [status_class(s) for s in (101, 200, 302, 404, 503, None, 999)] == [
        "1xx", "2xx", "3xx", "4xx", "5xx", "none", "none"]


def test_exposition_escapes_label_values_and_is_cumulative() -> None:
    red = RedMetrics(clock_ns=lambda: 0)
    red.record(("inbound", 'a"b\\c', "x", "", "v1", "2xx"), 3.0)
    text = render(red.snapshot())
    assert 'source="a\\"b\\\\c"' in text
    assert text.count('le="5"} 1') == 1 and 'le="2"} 0' in text
    assert "# TYPE meshlens_proxy_request_duration_milliseconds histogram" in text


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_series"):
        RedMetrics(max_series=0)
