"""One trace by id, reading only the granules that hold it.

`otel_traces` is sorted by (hour, TraceId) (storage/schema.py): the primary key
finds a trace's spans side by side in each hour they started in, one or two
granules, with no time bounds needed. Without bounds, though, it leaves one
candidate granule per hour and part, whose TraceId bloom filter is then read:
cheap over a few days, ~1.2 ms more per day of spans (15M spans over 30 days:
59 ms, against 25 bounded by the trace's extent from a lean copy of the trace-id
table). Over the 2 days of the 10M benchmark the extent's lookup costs more than
it saves (31-35 ms against 26-28). Past BOUNDED_AFTER_DAYS daily partitions, about
where the two cross, the extent bounds the spans' time (BOUNDED_TRACE_SQL).

Tables created before that sort order keep the exporter's, (ServiceName,
SpanName, time), where a trace's spans lie in one key range per (service,
operation). There the trace-id table says where they are in those terms: their
start times and their (service, operation) pairs. Both become one primary-key
condition, so the spans are read from exactly the key ranges that hold them, not
from every range of that second, whose granules the TraceId bloom filter would
have to check (at 10M spans ~10 granules instead of 376-549). The extent is a
scalar subquery, which ClickHouse runs before index analysis; one query rather
than two saves a query's planning (docs/benchmarks.md).
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from storage.model import SpanRecord
from storage.queries.span_rows import SPAN_SELECT, row_to_span
from storage.schema import OTEL_TRACES_PRIMARY_KEY

TRACE_SQL = """SELECT {select}
FROM `{db}`.otel_traces
WHERE TraceId = {{trace_id:String}}
ORDER BY Timestamp, SpanId"""

BOUNDED_AFTER_DAYS = 7

# Start/End are span *start* times, so Timestamp BETWEEN them covers every span;
# an unknown id has the extent (epoch, epoch), which prunes every partition.
BOUNDED_TRACE_SQL = """WITH (
    SELECT (min(Start), max(End))
    FROM `{db}`.otel_traces_trace_id_ts
    WHERE TraceId = {{trace_id:String}}
) AS extent
SELECT {select}
FROM `{db}`.otel_traces
WHERE TraceId = {{trace_id:String}}
  AND Timestamp BETWEEN extent.1 AND extent.2
ORDER BY Timestamp, SpanId"""

# BOUNDED_TRACE_SQL's extent, with the trace's (service, operation) pairs: the
# leading columns of the exporter's sort order. A trace written in several batches
# has a row per batch in the index table; rows written before ServiceOperations
# existed have none (extent.4), and the trace is then read by time alone.
BY_SERVICE_TRACE_SQL = """WITH (
    SELECT (
        min(Start),
        max(End),
        groupUniqArrayArray(ServiceOperations),
        countIf(empty(ServiceOperations)) > 0
    )
    FROM `{db}`.otel_traces_trace_id_ts
    WHERE TraceId = {{trace_id:String}}
) AS extent
SELECT {select}
FROM `{db}`.otel_traces
WHERE TraceId = {{trace_id:String}}
  AND Timestamp BETWEEN extent.1 AND extent.2
  AND (extent.4 OR (ServiceName, SpanName) IN extent.3)
ORDER BY Timestamp, SpanId"""

# In cluster mode the spans are in otel_traces_local, under the Distributed otel_traces
# (whose primary key is empty): the local table's key wins.
_PRIMARY_KEY_SQL = """SELECT primary_key
FROM system.tables
WHERE database = {db:String} AND name IN ('otel_traces', 'otel_traces_local')
  AND primary_key != ''
ORDER BY name DESC
LIMIT 1"""


def sorted_by_trace(client: Client, database: str) -> bool | None:
    """Whether `database`'s otel_traces is sorted by trace; None if it does not exist."""
    rows = client.query(_PRIMARY_KEY_SQL, parameters={"db": database}).result_rows
    if not rows:
        return None
    return bool(rows[0][0] == OTEL_TRACES_PRIMARY_KEY)


_DAYS_SQL = """SELECT uniqExact(partition)
FROM system.parts
WHERE database = {db:String} AND table IN ('otel_traces', 'otel_traces_local') AND active"""


def daily_partitions(client: Client, database: str) -> int:
    """How many days of spans otel_traces holds (on this node, in cluster mode)."""
    return int(client.query(_DAYS_SQL, parameters={"db": database}).result_rows[0][0])


def render_trace_sql(
    database: str, trace_id: str, *, by_trace: bool = True, days: int = 0
) -> tuple[str, dict[str, object]]:
    if not by_trace:
        template = BY_SERVICE_TRACE_SQL
    else:
        template = BOUNDED_TRACE_SQL if days > BOUNDED_AFTER_DAYS else TRACE_SQL
    return template.format(db=database, select=SPAN_SELECT), {"trace_id": trace_id}


def fetch_trace(
    client: Client, database: str, trace_id: str, *, by_trace: bool = True, days: int = 0
) -> list[SpanRecord]:
    """Every span of the trace, earliest first; [] for an unknown id.

    `by_trace`: whether otel_traces is sorted by trace (sorted_by_trace); `days`: its
    daily partitions (daily_partitions).
    """
    trace_id = trace_id.strip().lower()
    if not trace_id:
        return []
    sql, params = render_trace_sql(database, trace_id, by_trace=by_trace, days=days)
    return [row_to_span(row) for row in client.query(sql, parameters=params).result_rows]
