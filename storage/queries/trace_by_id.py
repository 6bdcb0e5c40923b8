"""One trace by id, reading only the granules that can hold it.

`otel_traces` is ordered by service and operation, not by trace, so the id's
time extent comes first from `otel_traces_trace_id_ts` (ordered by TraceId);
the second query then prunes partitions and granules by time.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from storage.model import SpanRecord
from storage.queries.span_rows import SPAN_SELECT, row_to_span

# A trace written in several batches has one row per batch in the index table.
# Start/End are span *start* times, so Timestamp BETWEEN them covers every span.
TRACE_EXTENT_SQL = """SELECT
    toUnixTimestamp64Nano(min(Start)) AS start_ns,
    toUnixTimestamp64Nano(max(End)) AS end_ns,
    count() AS batches
FROM `{db}`.otel_traces_trace_id_ts
WHERE TraceId = {{trace_id:String}}"""

TRACE_SPANS_SQL = """SELECT {select}
FROM `{db}`.otel_traces
WHERE TraceId = {{trace_id:String}}
  AND Timestamp BETWEEN fromUnixTimestamp64Nano({{start_ns:Int64}})
                    AND fromUnixTimestamp64Nano({{end_ns:Int64}})
ORDER BY Timestamp, SpanId"""


def render_extent_sql(database: str, trace_id: str) -> tuple[str, dict[str, object]]:
    return TRACE_EXTENT_SQL.format(db=database), {"trace_id": trace_id}


def render_spans_sql(
    database: str, trace_id: str, start_ns: int, end_ns: int
) -> tuple[str, dict[str, object]]:
    sql = TRACE_SPANS_SQL.format(db=database, select=SPAN_SELECT)
    return sql, {"trace_id": trace_id, "start_ns": start_ns, "end_ns": end_ns}


def fetch_trace(client: Client, database: str, trace_id: str) -> list[SpanRecord]:
    """Every span of the trace, earliest first; [] for an unknown id."""
    trace_id = trace_id.strip().lower()
    if not trace_id:
        return []
    sql, params = render_extent_sql(database, trace_id)
    start_ns, end_ns, batches = client.query(sql, parameters=params).result_rows[0]
    if not batches:
        return []
    sql, params = render_spans_sql(database, trace_id, int(start_ns), int(end_ns))
    return [row_to_span(row) for row in client.query(sql, parameters=params).result_rows]
