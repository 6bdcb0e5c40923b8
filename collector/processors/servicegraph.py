"""Service graph: pairs each server span with its parent span across batches and proxies.

A server span's parent is usually the client span of the calling sidecar, sent
by another process, in another batch, maybe later. Client and server spans wait
here keyed by trace id + span id, for `wait_s` at most:

- a server span whose parent is here (or arrives in time) is paired: its RED gets
  the parent's service as caller, and a client span parent makes an edge
  client service -> server service with the client's latency;
- a client span that no server span claimed in time is an edge to a database
  (`db.system.name`/`db.system`) or an external host (`peer.service`,
  `server.address`), or else counted as unpaired;
- a server span whose parent never came gets caller "unknown" (counted).

Memory is bounded by `max_entries`: past it the oldest entries expire early
(counted as evicted). The clock is passed in; tests drive it. Spans are read as
their facts (collector/processors/span_facts.py), whichever way they were decoded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from collector.processors.span_facts import ClientSpan, ServerSpan, SpanFact, facts_from_columns
from collector.processors.spanmetrics import (
    ROOT_CALLER,
    UNKNOWN_CALLER,
    SpanMetricsAggregator,
    minute_of,
)
from storage.latency_histogram import bucket_index
from storage.model import SpanColumns
from storage.span_metrics_model import EdgeColumns

_EdgeKey = tuple[int, str, str, str]


@dataclass(slots=True)
class PairingStats:
    paired: int = 0
    unpaired_servers: int = 0
    unpaired_clients: int = 0
    evicted: int = 0


class ServiceGraphProcessor:
    def __init__(
        self,
        red: SpanMetricsAggregator | None,
        *,
        clock: Callable[[], float],
        wait_s: float = 5.0,
        max_entries: int = 200_000,
        edges: bool = True,
    ) -> None:
        self._red = red
        self._clock = clock
        self._wait_s = wait_s
        self._max_entries = max_entries
        self._keep_edges = edges
        self._parents: dict[bytes, SpanFact] = {}  # spans a later server span may name
        self._waiting: dict[bytes, list[ServerSpan]] = {}  # by the parent they wait for
        self._deadlines: deque[tuple[float, bytes, bool]] = deque()  # (when, key, is_parent)
        self._edges: dict[_EdgeKey, list] = {}
        self.stats = PairingStats()

    @property
    def entries(self) -> int:
        return len(self._parents) + len(self._waiting)

    def consume(self, spans: SpanColumns | Iterable[SpanFact]) -> None:
        """Pair the server and client spans of a batch, given decoded or as facts."""
        facts = facts_from_columns(spans) if isinstance(spans, SpanColumns) else spans
        deadline = self._clock() + self._wait_s
        parents, waiting, deadlines = self._parents, self._waiting, self._deadlines
        for span in facts:
            key = span.key
            parents[key] = span
            deadlines.append((deadline, key, True))
            if type(span) is ServerSpan:
                parent_key = span.parent_key
                if not parent_key:
                    self._count(span, ROOT_CALLER)
                    continue
                parent = parents.get(parent_key)
                if parent is not None:
                    self._pair(parent, span)
                elif parent_key in waiting:
                    waiting[parent_key].append(span)
                else:
                    waiting[parent_key] = [span]
                    deadlines.append((deadline, parent_key, False))
            else:
                for server in waiting.pop(key, ()):
                    self._pair(span, server)
        if self.entries > self._max_entries:
            self.expire(evict_to=self._max_entries)

    def expire(self, *, everything: bool = False, evict_to: int | None = None) -> None:
        """Settle entries whose wait is over (all with `everything`, e.g. at stop)."""
        now = self._clock()
        deadlines = self._deadlines
        while deadlines:
            when, key, is_parent = deadlines[0]
            evicting = evict_to is not None and self.entries > evict_to
            if not (everything or evicting or when <= now):
                break
            deadlines.popleft()
            if is_parent:
                parent = self._parents.pop(key, None)
                if parent is not None and evicting:
                    self.stats.evicted += 1
                if type(parent) is ClientSpan and not parent.paired:
                    self._unpaired_client(parent)
            else:
                for server in self._waiting.pop(key, ()):
                    self.stats.unpaired_servers += 1
                    if evicting:
                        self.stats.evicted += 1
                    self._count(server, UNKNOWN_CALLER)

    def take_edges(self) -> EdgeColumns:
        rows, self._edges = self._edges, {}
        columns = EdgeColumns()
        for (minute, client, server, connection), values in rows.items():
            columns.Minute.append(minute)
            columns.Client.append(client)
            columns.Server.append(server)
            columns.ConnectionType.append(connection)
            columns.Requests.append(values[0])
            columns.Errors.append(values[1])
            columns.DurationSumNs.append(values[2])
            columns.DurationBuckets.append(values[3])
        return columns

    def _count(self, server: ServerSpan, caller: str) -> None:
        if self._red is not None:
            self._red.add(
                server.timestamp_ns, server.service, server.operation, server.version,
                caller, server.status, server.error, server.duration_ns,
            )  # fmt: skip

    def _pair(self, parent: SpanFact, server: ServerSpan) -> None:
        self._count(server, parent.service)
        if type(parent) is ClientSpan:
            self.stats.paired += 1
            parent.paired = True
            self._edge(
                parent.timestamp_ns, parent.service, server.service, "",
                parent.error or server.error, parent.duration_ns,
            )  # fmt: skip

    def _unpaired_client(self, client: ClientSpan) -> None:
        if client.peer is None:
            self.stats.unpaired_clients += 1
            return
        server, connection = client.peer
        self._edge(
            client.timestamp_ns, client.service, server, connection, client.error,
            client.duration_ns,
        )  # fmt: skip

    def _edge(
        self, timestamp_ns: int, client: str, server: str, connection: str, error: bool,
        duration_ns: int,
    ) -> None:  # fmt: skip
        if not self._keep_edges:
            return
        key = (minute_of(timestamp_ns), client, server, connection)
        row = self._edges.get(key)
        if row is None:
            row = self._edges[key] = [0, 0, 0, {}]
        row[0] += 1
        if error:
            row[1] += 1
        row[2] += duration_ns
        index = bucket_index(duration_ns)
        row[3][index] = row[3].get(index, 0) + 1
