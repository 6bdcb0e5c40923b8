"""One trace by id, reading only the granules that hold it.

`otel_traces` is ordered by (ServiceName, SpanName, time), not by trace. The
trace-id table says where a trace's spans are in those terms: their start times
and their (service, operation) pairs. Both become one primary-key condition, so
the spans are read from exactly the key ranges that hold them, not from every
range of that second, whose granules the TraceId bloom filter would have to check
(at 10M spans ~10 granules instead of 376-549). The extent is a scalar subquery,
which ClickHouse runs before index analysis; one query rather than two saves a
query's planning (docs/benchmarks.md).
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from storage.model import SpanRecord
from storage.queries.span_rows import SPAN_SELECT, row_to_span

# A trace written in several batches has one row per batch in the index table.
# Start/End are span *start* times, so Timestamp BETWEEN them covers every span.
# Rows written before ServiceOperations existed have none (extent.4): the trace
# is then read by time alone. An unknown id has the extent (epoch, epoch, [],
# false), which prunes every partition.
TRACE_SQL = """WITH (
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


def render_trace_sql(database: str, trace_id: str) -> tuple[str, dict[str, object]]:
    return TRACE_SQL.format(db=database, select=SPAN_SELECT), {"trace_id": trace_id}


def fetch_trace(client: Client, database: str, trace_id: str) -> list[SpanRecord]:
    """Every span of the trace, earliest first; [] for an unknown id."""
    trace_id = trace_id.strip().lower()
    if not trace_id:
        return []
    sql, params = render_trace_sql(database, trace_id)
    return [row_to_span(row) for row in client.query(sql, parameters=params).result_rows]
