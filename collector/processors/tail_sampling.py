"""Tail sampling: spans wait per trace, then the whole trace is kept or dropped.

Semantics of the OpenTelemetry Collector's tailsamplingprocessor, with three
policies tried in order once a trace's decision wait (from its first span) is over:

1. error: a span has status Error;
2. latency: the trace lasts at least `latency_threshold_s`, from its first span's
   start to its last span's end (so a slow root, or any slow span);
3. share: `keep_percent` of the rest, chosen by a hash of the trace id, so that
   every collector replica holding part of a trace decides the same way.

It stands after span derivation, so RED and the service graph count every span
and only what is written to `otel_traces` is sampled:

    batch ─► DerivedSignals (red_1m, service_edges_1m) ─► TailSamplingProcessor ─► spool/exporter

RED and edge rows pass through at once; spans wait. Memory is bounded by
`max_traces`: a new trace past it makes the oldest waiting one be decided early
(counted). Decisions are remembered for the last `decision_cache_traces` traces,
so a span arriving after its trace was decided follows that decision (counted as
late); a trace neither waiting nor remembered starts afresh.

Spans waiting for a decision were acknowledged but live in memory only: `stop()`
decides and writes them all, a kill -9 loses them (as it does the batch queue).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from enum import StrEnum

from collector.background import cancel_and_wait
from collector.config import TailSamplingConfig
from collector.pipeline import BatchExporter, ExportBatch
from collector.self_tracing import suppress_self_tracing
from storage.model import SpanColumns, SpanStatus

log = logging.getLogger(__name__)

_COLUMN_NAMES = tuple(f.name for f in dataclasses.fields(SpanColumns))
_Part = tuple[SpanColumns, list[int]]  # a batch and the indexes of some of its spans


class Decision(StrEnum):
    """What became of a trace, and why."""

    ERROR = "error"
    LATENCY = "latency"
    SHARE = "share"
    DROP = "drop"

    @property
    def keep(self) -> bool:
        return self is not Decision.DROP


def share_keeps(trace_id: str, keep_percent: float) -> bool:
    """Whether `trace_id` falls in the kept `keep_percent` of the id space.

    An unkeyed, process-independent hash (not Python's salted `hash`), so every
    replica and every restart gives the same answer for the same trace.
    """
    digest = hashlib.blake2b(trace_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < keep_percent / 100 * 2**64


@dataclasses.dataclass(slots=True)
class SamplingStats:
    kept_traces: int = 0
    dropped_traces: int = 0
    kept_by: dict[str, int] = dataclasses.field(default_factory=dict)  # reason -> traces
    kept_spans: int = 0
    dropped_spans: int = 0  # sampled out on purpose: not a loss
    early_decisions: int = 0  # decided before the wait because max_traces were waiting
    late_spans: int = 0  # arrived after their trace was decided
    lost_spans: int = 0  # kept, but the exporter failed for good (no spool)


class _Trace:
    __slots__ = ("end_ns", "error", "first_seen", "parts", "spans", "start_ns")

    def __init__(self, first_seen: float) -> None:
        self.first_seen = first_seen
        self.parts: list[_Part] = []
        self.spans = 0
        self.error = False
        self.start_ns = 2**63
        self.end_ns = 0


def gather(parts: list[_Part]) -> SpanColumns:
    """The spans named by `parts` as one batch, in their order of arrival per batch."""
    by_batch: dict[int, _Part] = {}
    for batch, indexes in parts:
        entry = by_batch.get(id(batch))
        if entry is None:
            by_batch[id(batch)] = (batch, list(indexes))
        else:
            entry[1].extend(indexes)
    out = SpanColumns()
    for batch, indexes in by_batch.values():
        if len(indexes) == len(batch):  # all of it (an index is never named twice)
            out.extend(batch)
            continue
        indexes.sort()
        for name in _COLUMN_NAMES:
            column = getattr(batch, name)
            getattr(out, name).extend([column[i] for i in indexes])
    return out


class TailSampler:
    """The decisions, without I/O: `consume` spans, `decide_due` as time passes,
    `take` what is to be written. The clock (monotonic seconds) is passed in."""

    def __init__(self, config: TailSamplingConfig, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._wait_s = config.decision_wait_s
        self._latency_ns = int(config.latency_threshold_s * 1e9)
        self._keep_percent = config.keep_percent
        self._max_traces = config.max_traces
        self._cache_size = config.decision_cache_traces
        self._traces: OrderedDict[str, _Trace] = OrderedDict()  # oldest first
        self._decisions: OrderedDict[str, Decision] = OrderedDict()
        self._out: list[_Part] = []
        self.stats = SamplingStats()

    @property
    def waiting_traces(self) -> int:
        return len(self._traces)

    @property
    def remembered_decisions(self) -> int:
        return len(self._decisions)

    def decision(self, trace_id: str) -> Decision | None:
        return self._decisions.get(trace_id)

    def consume(self, spans: SpanColumns) -> None:
        if not len(spans):
            return
        now = self._clock()
        groups: dict[str, list[int]] = {}
        for i, trace_id in enumerate(spans.TraceId):
            group = groups.get(trace_id)
            if group is None:
                groups[trace_id] = [i]
            else:
                group.append(i)
        timestamps, durations, statuses = spans.Timestamp, spans.Duration, spans.StatusCode
        traces, stats = self._traces, self.stats
        for trace_id, indexes in groups.items():
            decided = self._decisions.get(trace_id)
            if decided is not None:
                stats.late_spans += len(indexes)
                self._follow(decided, (spans, indexes))
                continue
            trace = traces.get(trace_id)
            if trace is None:
                if len(traces) >= self._max_traces:
                    stats.early_decisions += 1
                    self._decide(*traces.popitem(last=False))
                trace = traces[trace_id] = _Trace(now)
            trace.parts.append((spans, indexes))
            trace.spans += len(indexes)
            for i in indexes:
                start = timestamps[i]
                end = start + durations[i]
                if start < trace.start_ns:
                    trace.start_ns = start
                if end > trace.end_ns:
                    trace.end_ns = end
                if statuses[i] == SpanStatus.ERROR:
                    trace.error = True

    def decide_due(self, *, everything: bool = False) -> None:
        """Decide every trace whose wait is over (all of them with `everything`)."""
        traces = self._traces
        cutoff = self._clock() - self._wait_s
        while traces:
            trace_id = next(iter(traces))
            if not everything and traces[trace_id].first_seen > cutoff:
                break
            self._decide(*traces.popitem(last=False))

    def take(self) -> SpanColumns:
        """The spans decided kept since the last take, as one batch."""
        parts, self._out = self._out, []
        return gather(parts) if parts else SpanColumns()

    def _decide(self, trace_id: str, trace: _Trace) -> None:
        if trace.error:
            decision = Decision.ERROR
        elif trace.end_ns - trace.start_ns >= self._latency_ns:
            decision = Decision.LATENCY
        elif share_keeps(trace_id, self._keep_percent):
            decision = Decision.SHARE
        else:
            decision = Decision.DROP
        stats = self.stats
        if decision.keep:
            stats.kept_traces += 1
            stats.kept_by[decision] = stats.kept_by.get(decision, 0) + 1
        else:
            stats.dropped_traces += 1
        for part in trace.parts:
            self._follow(decision, part)
        if self._cache_size:
            self._decisions[trace_id] = decision
            if len(self._decisions) > self._cache_size:
                self._decisions.popitem(last=False)

    def _follow(self, decision: Decision, part: _Part) -> None:
        if decision.keep:
            self.stats.kept_spans += len(part[1])
            self._out.append(part)
        else:
            self.stats.dropped_spans += len(part[1])


class TailSamplingProcessor:
    """The pipeline stage around `TailSampler`: pushes pass RED and edge rows on at
    once with the spans decided so far; a tick (every `tick_s`) writes traces whose
    wait ran out while nothing arrived; `stop()` decides and writes everything."""

    def __init__(
        self,
        exporter: BatchExporter,
        config: TailSamplingConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        tick_s: float | None = None,
    ) -> None:
        self._exporter = exporter
        self.sampler = TailSampler(config, clock)
        self._sleep = sleep
        self._tick_s = tick_s if tick_s is not None else min(1.0, config.decision_wait_s / 4)
        # One push at a time downstream, as from the stage before: the spool keeps order.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def stats(self) -> SamplingStats:
        return self.sampler.stats

    async def push(self, batch: ExportBatch) -> None:
        async with self._lock:
            self.sampler.consume(batch.spans)
            self.sampler.decide_due()
            # The batch's other rows (and its token) go on with the spans decided now.
            await self._export(dataclasses.replace(batch, spans=self.sampler.take()))

    async def flush_due(self) -> None:
        """Write the traces whose decision wait is over."""
        async with self._lock:
            self.sampler.decide_due()
            await self._export(ExportBatch(spans=self.sampler.take()))

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._tick(), name="collector-tail-sampling")

    async def stop(self) -> None:
        """Decide every waiting trace and write the kept ones. Safe before start, and twice."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        async with self._lock:  # waits for a shielded flush the cancel interrupted
            self.sampler.decide_due(everything=True)
            await self._export(ExportBatch(spans=self.sampler.take()))

    async def _tick(self) -> None:
        with suppress_self_tracing():
            while True:
                await self._sleep(self._tick_s)
                # Shielded: a stop() during the export must not lose the spans taken.
                await asyncio.shield(self.flush_due())

    async def _export(self, batch: ExportBatch) -> None:
        if batch.empty:
            return
        try:
            await self._exporter.push(batch)
        except Exception:  # no spool, and retries gave up
            log.exception("dropped %d sampled spans: the exporter failed", len(batch))
            self.sampler.stats.lost_spans += len(batch)
