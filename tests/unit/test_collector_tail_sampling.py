"""Tail sampling with a fake clock: the decision wait, the three policies, late spans,
the bounds on waiting traces and remembered decisions, and the pipeline stage."""

from __future__ import annotations

import asyncio

import pytest

from collector import CollectorConfig, CollectorConfigError, SinkExporter, TailSamplingConfig
from collector.pipeline import ExportBatch
from collector.processors.tail_sampling import (
    Decision,
    TailSampler,
    TailSamplingProcessor,
    share_keeps,
)
from collector.testing import FakeClock
from storage.model import SpanColumns
from tests.spans import BASE_NS, MS, make_span, new_trace_id, to_columns


def sampler(**options: object) -> tuple[TailSampler, FakeClock]:
    clock = FakeClock()
    settings: dict[str, object] = {"enabled": True, "decision_wait_s": 10.0,
                                   "latency_threshold_s": 1.0, "keep_percent": 0.0}  # fmt: skip
    settings.update(options)
    return TailSampler(TailSamplingConfig(**settings), clock), clock  # type: ignore[arg-type]


def trace(trace_id: str, *, spans: int = 2, error: bool = False, ms: int = 10) -> SpanColumns:
    return to_columns(*(
        make_span(trace_id=trace_id, service_name=f"svc-{i}", timestamp_ns=BASE_NS + i * MS,
                  duration_ns=ms * MS, status_code="Error" if error and i == spans - 1 else "Unset")
        for i in range(spans)
    ))  # fmt: skip


def id_where(keeps: bool, percent: float = 50.0) -> str:
    while True:
        trace_id = new_trace_id()
        if share_keeps(trace_id, percent) == keeps:
            return trace_id


def test_spans_wait_for_the_decision_then_error_and_slow_traces_are_kept() -> None:
    sampling, clock = sampler()
    failed, slow, fast = new_trace_id(), new_trace_id(), new_trace_id()
    sampling.consume(trace(failed, error=True))
    sampling.consume(trace(slow, ms=1500))
    sampling.consume(trace(fast))
    sampling.decide_due()
    assert len(sampling.take()) == 0 and sampling.waiting_traces == 3
    clock.advance(9.9)
    sampling.decide_due()
    assert len(sampling.take()) == 0
    clock.advance(0.1)
    sampling.decide_due()
    kept = sampling.take()
    assert sorted(set(kept.TraceId)) == sorted([failed, slow])
    assert len(kept) == 4
    assert (sampling.decision(failed), sampling.decision(slow), sampling.decision(fast)) == (
        Decision.ERROR, Decision.LATENCY, Decision.DROP,
    )  # fmt: skip
    stats = sampling.stats
    assert (stats.kept_traces, stats.dropped_traces, stats.kept_spans, stats.dropped_spans) == (
        2, 1, 4, 2,
    )  # fmt: skip
    assert stats.kept_by == {"error": 1, "latency": 1}


def test_latency_is_the_whole_trace_across_batches() -> None:
    sampling, clock = sampler(latency_threshold_s=0.5)
    trace_id = new_trace_id()
    # Two short spans 600 ms apart, in two batches: together the trace lasts 610 ms.
    sampling.consume(to_columns(make_span(trace_id=trace_id, timestamp_ns=BASE_NS)))
    clock.advance(3)
    sampling.consume(to_columns(make_span(trace_id=trace_id, timestamp_ns=BASE_NS + 600 * MS)))
    clock.advance(7)  # the wait counts from the trace's first span
    sampling.decide_due()
    assert sampling.decision(trace_id) is Decision.LATENCY
    assert len(sampling.take()) == 2


def test_the_share_is_decided_by_trace_id_alike_on_every_replica() -> None:
    ids = [new_trace_id() for _ in range(4000)]
    kept = sum(share_keeps(trace_id, 25.0) for trace_id in ids)
    assert 800 <= kept <= 1200
    assert all(share_keeps(t, 100.0) for t in ids[:100])
    assert not any(share_keeps(t, 0.0) for t in ids[:100])
    # Two replicas, each with half of every trace, keep the same traces.
    first, clock_a = sampler(keep_percent=25.0)
    second, clock_b = sampler(keep_percent=25.0)
    for trace_id in ids[:300]:
        first.consume(trace(trace_id, spans=1))
        second.consume(trace(trace_id, spans=1))
    for replica, clock in ((first, clock_a), (second, clock_b)):
        clock.advance(10)
        replica.decide_due()
    assert set(first.take().TraceId) == set(second.take().TraceId)
    assert {first.decision(t) for t in ids[:300]} == {Decision.SHARE, Decision.DROP}


def test_late_spans_follow_the_decision_without_waiting() -> None:
    sampling, clock = sampler(keep_percent=50.0)
    kept_id, dropped_id = id_where(True), id_where(False)
    sampling.consume(trace(kept_id))
    sampling.consume(trace(dropped_id))
    clock.advance(10)
    sampling.decide_due()
    assert set(sampling.take().TraceId) == {kept_id}
    late = to_columns(
        make_span(trace_id=kept_id, service_name="late", status_code="Error"),
        make_span(trace_id=dropped_id, service_name="late", status_code="Error"),
    )
    sampling.consume(late)
    out = sampling.take()
    assert (out.TraceId, out.ServiceName) == ([kept_id], ["late"])
    assert sampling.stats.late_spans == 2
    assert sampling.decision(dropped_id) is Decision.DROP  # an error afterwards changes nothing
    assert sampling.waiting_traces == 0


def test_waiting_traces_are_bounded_the_oldest_decided_early() -> None:
    sampling, clock = sampler(max_traces=3)
    ids = [new_trace_id() for _ in range(5)]
    sampling.consume(trace(ids[0], error=True))
    for trace_id in ids[1:]:
        clock.advance(1)
        sampling.consume(trace(trace_id))
        assert sampling.waiting_traces <= 3
    assert sampling.stats.early_decisions == 2
    assert sampling.decision(ids[0]) is Decision.ERROR  # decided early, by the same rules
    assert sampling.decision(ids[1]) is Decision.DROP
    assert set(sampling.take().TraceId) == {ids[0]}


def test_remembered_decisions_are_bounded() -> None:
    sampling, clock = sampler(decision_cache_traces=2)
    ids = [new_trace_id() for _ in range(3)]
    for trace_id in ids:
        sampling.consume(trace(trace_id))
    clock.advance(10)
    sampling.decide_due()
    assert sampling.remembered_decisions == 2
    assert sampling.decision(ids[0]) is None  # forgotten: a late span starts afresh
    sampling.consume(trace(ids[0], spans=1))
    assert sampling.waiting_traces == 1 and sampling.stats.late_spans == 0


def test_kept_spans_come_out_whole_from_mixed_batches() -> None:
    sampling, clock = sampler(keep_percent=50.0)
    kept_id, dropped_id = id_where(True), id_where(False)
    spans = [make_span(trace_id=t, service_name=f"{t[:4]}-{i}") for i in range(3)
             for t in (kept_id, dropped_id)]  # fmt: skip
    sampling.consume(to_columns(*spans[:4]))
    sampling.consume(to_columns(*spans[4:]))
    clock.advance(10)
    sampling.decide_due()
    out = sampling.take()
    assert out.ServiceName == [f"{kept_id[:4]}-{i}" for i in range(3)]
    assert out.SpanId == [s.span_id for s in spans if s.trace_id == kept_id]
    assert all(len(getattr(out, name)) == 3 for name in out.__slots__)


def test_config_problems_are_named() -> None:
    with pytest.raises(CollectorConfigError) as error:
        CollectorConfig(tail_sampling=TailSamplingConfig(
            enabled="yes", decision_wait_s=0, keep_percent=120, max_traces=0))  # type: ignore[arg-type]  # fmt: skip
    assert error.value.problems == [
        "collector.tail_sampling.enabled: must be true or false, got 'yes'",
        "collector.tail_sampling.decision_wait_s: must be a number > 0, got 0",
        "collector.tail_sampling.keep_percent: must be a number 0..100, got 120",
        "collector.tail_sampling.max_traces: must be an integer 1..100000000, got 0",
    ]
    assert not CollectorConfig().tail_sampling.enabled


async def test_the_stage_passes_red_rows_at_once_and_spans_after_the_wait() -> None:
    sink, clock = SinkExporter(), FakeClock()
    config = TailSamplingConfig(enabled=True, decision_wait_s=5.0, keep_percent=0.0)
    stage = TailSamplingProcessor(sink, config, clock=clock, sleep=clock.sleep, tick_s=1.0)
    failed = new_trace_id()
    batch = ExportBatch(spans=trace(failed, error=True))
    batch.red.Minute.append(BASE_NS // 10**9 // 60 * 60)
    batch.red.ServiceName.append("svc-0")
    await stage.push(batch)
    assert len(sink.exports) == 1
    assert (len(sink.exports[0].spans), sink.exports[0].red.ServiceName) == (0, ["svc-0"])
    assert sink.exports[0].token == batch.token
    await stage.push(ExportBatch(spans=trace(new_trace_id())))  # nothing to pass on yet
    assert len(sink.exports) == 1
    await stage.start()
    await asyncio.sleep(0)  # the tick task sleeps on the fake clock
    clock.advance(5.0)
    spans = await sink.wait_for_spans(2)
    assert set(spans.TraceId) == {failed}
    assert stage.stats.dropped_traces == 1
    await stage.stop()
    await stage.stop()


async def test_stop_decides_and_writes_every_waiting_trace() -> None:
    sink, clock = SinkExporter(), FakeClock()
    config = TailSamplingConfig(enabled=True, decision_wait_s=60.0, keep_percent=100.0)
    stage = TailSamplingProcessor(sink, config, clock=clock, sleep=clock.sleep)
    await stage.stop()  # before start: nothing to do
    await stage.start()
    await stage.push(ExportBatch(spans=trace(new_trace_id(), spans=3)))
    assert sink.span_count == 0
    await stage.stop()
    assert sink.span_count == 3
    assert stage.sampler.waiting_traces == 0


async def test_a_failing_exporter_counts_lost_spans() -> None:
    sink, clock = SinkExporter(), FakeClock()
    config = TailSamplingConfig(enabled=True, decision_wait_s=1.0, keep_percent=100.0)
    stage = TailSamplingProcessor(sink, config, clock=clock, sleep=clock.sleep)
    await stage.push(ExportBatch(spans=trace(new_trace_id())))
    clock.advance(1.0)
    sink.fail_next(1)
    await stage.flush_due()
    assert stage.stats.lost_spans == 2
