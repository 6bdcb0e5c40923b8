"""Migrations on a real chdb engine, and how open_store refuses bad input."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from string import Template

import pytest

from storage import (
    RetentionConfig,
    StorageURLError,
    Store,
    TraceSearchQuery,
    TraceSummary,
    migrations,
    open_store,
    schema,
)
from storage.commands import print_status
from storage.connection import connect
from storage.migrations import MIGRATIONS, Migration
from storage.queries.trace_by_id import daily_partitions
from storage.queries.trace_search import render_index_summary_sql
from storage.resort import ResortError
from storage.schema import Statement
from storage.url import parse_storage_url
from tests.spans import BASE_NS, MS, make_span, new_trace_id, to_columns

ALL_VERSIONS = [m.version for m in MIGRATIONS]


def fresh_database_store(shared: Store, ttl_days: int | None = None) -> Store:
    """A store on a database of its own: chdb allows no second engine path per process."""
    client = connect(parse_storage_url(shared.url))
    database = f"meshlens_{os.urandom(4).hex()}"
    return Store(client, url=shared.url, database=database, ttl_days=ttl_days)


def test_first_migration_applies_all_then_nothing(chdb_store: Store) -> None:
    store = fresh_database_store(chdb_store)
    try:
        assert store.migrate() == ALL_VERSIONS
        assert store.migrate() == []
        assert store.spans_sorted_by_trace() is True
        # as created: no later migration changes it
        codec = f"`Timestamp` DateTime64(9) CODEC({schema.TIMESTAMP_CODEC})"
        assert codec in show_create(store, "otel_traces")
        assert store.migration_status() == [(m.version, m.name, True) for m in MIGRATIONS]
        assert store.count_spans() == 0
    finally:
        store.close()


def test_opening_again_applies_nothing(chdb_store: Store) -> None:
    assert chdb_store.migration_status() == [(m.version, m.name, True) for m in MIGRATIONS]
    with open_store(chdb_store.url) as again:
        assert again.migrate() == []


def test_ttl_reaches_the_tables(chdb_store: Store) -> None:
    store = fresh_database_store(chdb_store, ttl_days=7)
    try:
        store.migrate()
        client = connect(parse_storage_url(chdb_store.url))
        try:
            for table, column in (
                ("otel_traces", "Timestamp"),
                ("otel_traces_trace_id_ts", "Start"),
            ):
                ddl = client.command(f"SHOW CREATE TABLE {store.database}.{table}")
                assert f"TTL toDateTime({column}) + toIntervalDay(7)" in str(ddl), table
        finally:
            client.close()
    finally:
        store.close()


def test_bad_url_is_refused_before_touching_disk(tmp_path: Path) -> None:
    with pytest.raises(StorageURLError, match=r"sqlite:///x.*accepted forms: chdb:///"):
        open_store("sqlite:///x")
    with pytest.raises(StorageURLError, match=r"must start with \./"):
        open_store(f"chdb://{tmp_path.name}/data")
    assert not (Path.cwd() / tmp_path.name).exists()


def test_bad_ttl_is_refused_by_name(chdb_store: Store) -> None:
    with pytest.raises(ValueError, match="ttl_days"):
        open_store(chdb_store.url, ttl_days=0)


def show_create(store: Store, table: str) -> str:
    client = connect(parse_storage_url(store.url))
    try:
        return str(client.command(f"SHOW CREATE TABLE {store.database}.{table}"))
    finally:
        client.close()


TTL_COLUMNS = {
    "otel_traces": ("Timestamp", "spans"),
    "otel_traces_trace_id_ts": ("Start", "spans"),
    "otel_traces_attributes": ("Day", "spans"),
    "red_1m": ("Minute", "aggregates"),
    "service_edges_1m": ("Minute", "aggregates"),
    "audit_log": ("EventTime", "audit"),
    **{f"otel_metrics_{kind}": ("TimeUnix", "spans") for kind in (
        "gauge", "sum", "histogram", "exponential_histogram", "summary"
    )},
    "otel_logs": ("TimestampTime", "spans"),
}


def test_retention_per_class_at_creation_then_changed(chdb_store: Store) -> None:
    client = connect(parse_storage_url(chdb_store.url))
    database = f"meshlens_{os.urandom(4).hex()}"
    days = RetentionConfig(spans_days=7, aggregates_days=90, audit_days=365)
    store = Store(client, url=chdb_store.url, database=database, ttl=days)
    try:
        store.migrate()
        for table, (column, cls) in TTL_COLUMNS.items():
            ddl = show_create(store, table)
            n = days.days_for(cls)
            assert f"TTL toDateTime({column}) + toIntervalDay({n})" in ddl, table
            assert "ttl_only_drop_parts = 1" in ddl, table
        applied = store.apply_retention(RetentionConfig(spans_days=3))
        spans_class = [t for t, (_, cls) in TTL_COLUMNS.items() if cls == "spans"]
        assert len(applied) == len(spans_class) == 9
        assert all("MODIFY TTL" in sql for sql in applied)
        assert "toIntervalDay(3)" in show_create(store, "otel_traces")
        assert "toIntervalDay(3)" in show_create(store, "otel_traces_attributes")
        assert "toIntervalDay(3)" in show_create(store, "otel_logs")
        assert "toIntervalDay(90)" in show_create(store, "red_1m")  # untouched
    finally:
        store.close()


def test_retention_on_tables_created_without_ttl(chdb_store: Store) -> None:
    store = fresh_database_store(chdb_store)
    try:
        store.migrate()
        assert "TTL" not in show_create(store, "red_1m")
        assert "ttl_only_drop_parts = 1" in show_create(store, "red_1m")  # migration 6
        store.apply_retention(RetentionConfig(aggregates_days=30, audit_days=400))
        assert "TTL toDateTime(Minute) + toIntervalDay(30)" in show_create(store, "red_1m")
        assert "toIntervalDay(400)" in show_create(store, "audit_log")
        assert "TTL" not in show_create(store, "otel_traces")
    finally:
        store.close()


def test_ttl_and_ttl_days_together_are_refused(chdb_store: Store) -> None:
    with pytest.raises(ValueError, match="ttl_days and ttl"):
        open_store(chdb_store.url, ttl_days=3, ttl=RetentionConfig(spans_days=3))
    with pytest.raises(ValueError, match=r"spans_days.*audit_days"):
        RetentionConfig(spans_days=0, audit_days=-1)


def _as_before_issue_6(statement: Statement) -> Statement:
    """Migrations 1 and 2 as first released: ZSTD(1), 8192 rows per granule, spans
    in the exporter's order, no ServiceOperations nor summary columns."""
    sql = re.sub(r"CODEC\((?:[^()]|\([^()]*\))*\)", "CODEC(ZSTD(1))", statement.template.template)
    sql = sql.replace(schema.OTEL_TRACES_PRIMARY_KEY, schema.EXPORTER_PRIMARY_KEY)
    later = r"(ServiceOperations|SpanCount|ErrorCount|SpansEndNs|Root)"
    sql = re.sub(rf"\n    {later} [^\n]*,", "", sql)  # the table's columns
    sql = re.sub(rf"(,\n    [^\n]* AS {later})+\n", "\n", sql)  # the view's
    sql = re.sub(r"index_granularity = \d+", "index_granularity = 8192", sql)
    return Statement(Template(sql), statement.ttl_column, statement.retention)


def test_migration_9_upgrades_tables_created_before_it(chdb_store: Store) -> None:
    store = fresh_database_store(chdb_store)
    first = (
        Migration(1, "otel_traces", (_as_before_issue_6(schema.OTEL_TRACES_DDL),)),
        Migration(2, "otel_traces_trace_id_ts", tuple(_as_before_issue_6(s) for s in (
            schema.OTEL_TRACES_TRACE_ID_TS_DDL, schema.OTEL_TRACES_TRACE_ID_TS_MV_DDL))),
        *(m for m in MIGRATIONS if 3 <= m.version <= 8),
    )  # fmt: skip
    try:
        assert store._run(lambda c: migrations.migrate(c, store.database, migrations=first)) == [
            1, 2, 3, 4, 5, 6, 7, 8,
        ]  # fmt: skip
        assert "ServiceOperations" not in show_create(store, "otel_traces_trace_id_ts")
        trace_id = new_trace_id()
        early = make_span(trace_id=trace_id, timestamp_ns=BASE_NS + 7 * MS)
        store.write_spans(to_columns(early))  # its trace-id row has no ServiceOperations

        assert "SpanCount" not in show_create(store, "otel_traces_trace_id_ts_mv")
        assert store.migrate() == [9, 10]
        traces = show_create(store, "otel_traces")
        assert "`SpanAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(6))" in traces
        assert "index_granularity = 8192" in traces  # fixed at creation
        assert f"PRIMARY KEY ({schema.EXPORTER_PRIMARY_KEY})" in traces  # so is the order
        assert "`ServiceOperations` Array(Tuple(" in show_create(store, "otel_traces_trace_id_ts")
        assert "AS ServiceOperations" in show_create(store, "otel_traces_trace_id_ts_mv")
        late = make_span(trace_id=trace_id, timestamp_ns=BASE_NS + 9 * MS, service_name="db",
                         span_name="SELECT", parent_span_id=early.span_id)  # fmt: skip
        after = make_span(timestamp_ns=BASE_NS + 8 * MS, service_name="db", span_name="SELECT")
        store.write_spans(to_columns(late, after))
        assert store.spans_sorted_by_trace() is False
        status = io.StringIO()
        print_status(store, status)
        assert status.getvalue().splitlines()[-1].startswith(
            "otel_traces is sorted by service, as the exporter sorts, not by trace"
        )
        # Read by time alone while a batch lacks ServiceOperations, by key once all have them.
        assert store.get_trace(trace_id) == [early, late]
        assert store.get_trace(after.trace_id) == [after]
    finally:
        store.close()


def test_migration_10_summaries_from_the_trace_id_table_or_else_from_spans(
    chdb_store: Store,
) -> None:
    store = fresh_database_store(chdb_store)
    try:
        before_10 = tuple(m for m in MIGRATIONS if m.version <= 9)
        store._run(lambda c: migrations.migrate(c, store.database, migrations=before_10))
        run = {"test.run": os.urandom(4).hex()}
        mixed = new_trace_id()
        root = make_span(trace_id=mixed, timestamp_ns=BASE_NS + 5 * MS, duration_ns=50 * MS,
                         resource_attributes=run)  # fmt: skip
        store.write_spans(to_columns(root))  # its trace-id row has no summary columns

        assert store.migrate() == [10]
        created = show_create(store, "otel_traces_trace_id_ts")
        assert "`SpanCount` UInt32" in created and "max_compress_block_size = 65536" in created
        child = make_span(trace_id=mixed, timestamp_ns=BASE_NS + 9 * MS, service_name="db",
                          span_name="SELECT", parent_span_id=root.span_id, status_code="Error",
                          resource_attributes=run)  # fmt: skip
        later = make_span(timestamp_ns=BASE_NS + 8 * MS, service_name="db", span_name="SELECT",
                          parent_span_id="ab" * 8, resource_attributes=run)  # fmt: skip
        store.write_spans(to_columns(child, later))
        sql, params = render_index_summary_sql([mixed, later.trace_id], store.database)
        rows = store._run(lambda c: c.query(sql, parameters=params).result_rows)
        complete = {row[0]: bool(row[8]) for row in rows}
        assert complete == {mixed: False, later.trace_id: True}

        found = store.search_traces(TraceSearchQuery(attributes=(("test.run", run["test.run"]),)))
        by_id = {s.trace_id: s for s in found}
        assert by_id[mixed] == TraceSummary(
            trace_id=mixed, start_ns=root.timestamp_ns, duration_ns=50 * MS,
            root_service="frontend", root_operation="GET /", span_count=2, error_count=1,
            services=("db", "frontend"),
        )  # fmt: skip
        assert by_id[later.trace_id] == TraceSummary(
            trace_id=later.trace_id, start_ns=later.timestamp_ns, duration_ns=later.duration_ns,
            root_service="db", root_operation="SELECT", span_count=1, error_count=0,
            services=("db",),
        )  # fmt: skip
    finally:
        store.close()


def _count(store: Store, table: str) -> int:
    return int(store._run(lambda c: c.command(f"SELECT count() FROM {store.database}.{table}")))


def test_resort_sorts_an_old_table_by_trace_and_keeps_every_span_view_and_ttl(
    chdb_store: Store,
) -> None:
    store = fresh_database_store(chdb_store, ttl_days=3650)
    first = (Migration(1, "otel_traces", (_as_before_issue_6(schema.OTEL_TRACES_DDL),)),)
    try:
        store._run(lambda c: migrations.migrate(c, store.database, store.ttl, migrations=first))
        store.migrate()
        day = 86_400_000 * MS
        traces = [
            [make_span(trace_id=trace_id, timestamp_ns=BASE_NS + d * day + i * MS,
                       service_name=f"svc-{i}", span_name=f"op-{i}") for i in range(3)]
            for d, trace_id in enumerate(new_trace_id() for _ in range(3))
        ]  # fmt: skip; three traces on three days: three partitions
        store.write_spans(to_columns(*(span for trace in traces for span in trace)))
        assert store.spans_sorted_by_trace() is False
        ids_rows = _count(store, "otel_traces_trace_id_ts")

        said: list[str] = []
        assert store.resort_spans(said.append) is True
        assert len([line for line in said if line.startswith("copied partition ")]) == 3
        assert said[-1].endswith(f"now sorted by ({schema.OTEL_TRACES_PRIMARY_KEY})")
        assert store.spans_sorted_by_trace() is True
        created = show_create(store, "otel_traces")
        assert "TTL toDateTime(Timestamp) + toIntervalDay(3650)" in created
        assert "otel_traces_resorted" not in str(
            store._run(lambda c: c.command(f"SHOW TABLES FROM {store.database}"))
        )
        assert _count(store, "otel_traces") == 9
        for trace in traces:
            assert store.get_trace(trace[0].trace_id) == trace
        # The copy fired no view; the views fire on the new table.
        assert _count(store, "otel_traces_trace_id_ts") == ids_rows
        store.write_spans(to_columns(make_span(timestamp_ns=BASE_NS + 5 * MS)))
        assert _count(store, "otel_traces_trace_id_ts") == ids_rows + 1
        # Sorted already; what a run stopped after the swap left is dropped.
        store._run(lambda c: c.command(
            f"CREATE TABLE {store.database}.otel_traces_resorted AS {store.database}.otel_traces"))
        assert store.resort_spans() is False
        assert "otel_traces_resorted" not in str(
            store._run(lambda c: c.command(f"SHOW TABLES FROM {store.database}"))
        )
    finally:
        store.close()


def test_resort_before_any_migration_says_to_migrate(chdb_store: Store) -> None:
    store = fresh_database_store(chdb_store)
    try:
        with pytest.raises(ResortError, match=r"otel_traces does not exist: run `meshlens storage"):
            store.resort_spans()
    finally:
        store.close()


def test_resort_refuses_a_table_whose_columns_a_copy_would_lose(chdb_store: Store) -> None:
    store = fresh_database_store(chdb_store)
    first = (Migration(1, "otel_traces", (_as_before_issue_6(schema.OTEL_TRACES_DDL),)),)
    try:
        store._run(lambda c: migrations.migrate(c, store.database, migrations=first))
        store.migrate()
        store._run(lambda c: c.command(
            f"ALTER TABLE {store.database}.otel_traces ADD COLUMN Extra String"))
        store.write_spans(to_columns(make_span(timestamp_ns=BASE_NS)))
        lost = r"only in `\w+`\.otel_traces: \[\('Extra', 'String'\)\]"
        with pytest.raises(ResortError, match=lost):
            store.resort_spans()
        assert store.spans_sorted_by_trace() is False and _count(store, "otel_traces") == 1
        assert "otel_traces_resorted" not in str(
            store._run(lambda c: c.command(f"SHOW TABLES FROM {store.database}"))
        )
    finally:
        store.close()


def test_trace_by_id_over_many_days_reads_within_the_traces_extent(chdb_store: Store) -> None:
    """Past a week of spans, trace by id bounds the time by the trace-id table's
    extent: a trace across midnight and one on the last day come back whole."""
    store = fresh_database_store(chdb_store)
    day = 86_400_000 * MS
    try:
        store.migrate()
        across = new_trace_id()
        spans = [make_span(trace_id=across, timestamp_ns=BASE_NS + day - MS),
                 make_span(trace_id=across, timestamp_ns=BASE_NS + day + MS, span_name="late")]
        last = make_span(timestamp_ns=BASE_NS + 8 * day)
        filler = [make_span(timestamp_ns=BASE_NS + d * day + 5 * MS) for d in range(9)]
        store.write_spans(to_columns(*spans, last, *filler))
        assert store._run(lambda c: daily_partitions(c, store.database)) == 9
        assert store.get_trace(across) == spans
        assert store._days[1] == 9  # what get_trace read, so it took the bounded query
        assert store.get_trace(last.trace_id) == [last]
        assert store.get_trace(new_trace_id()) == []
    finally:
        store.close()
