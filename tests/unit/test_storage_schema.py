import re

import pytest

from storage import schema
from storage.migrations import BOOTSTRAP, MIGRATIONS
from storage.model import SPAN_COLUMN_NAMES
from storage.retention import RetentionConfig


def otel_traces_ddl(ttl_days: int | None = None) -> str:
    return schema.render(schema.OTEL_TRACES_DDL, "meshlens", ttl_days)


@pytest.mark.parametrize(
    "column",
    [
        "Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))",
        "TraceId String",
        "SpanName LowCardinality(String)",
        "ServiceName LowCardinality(String)",
        "ResourceAttributes Map(LowCardinality(String), String)",
        "SpanAttributes Map(LowCardinality(String), String)",
        "Duration UInt64 CODEC(T64, ZSTD(1))",
        "StatusCode LowCardinality(String)",
        "INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1",
        "INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01)",
        "INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01)",
        "INDEX idx_duration Duration TYPE minmax",
        "PARTITION BY toDate(Timestamp)",
        "PRIMARY KEY (toStartOfHour(Timestamp), TraceId)",
        "ORDER BY (toStartOfHour(Timestamp), TraceId, Timestamp)",
        "SETTINGS index_granularity = 2048, ttl_only_drop_parts = 1",
    ],
)
def test_otel_traces_matches_the_collector_exporter(column: str) -> None:
    assert column in otel_traces_ddl()


def test_codecs_altered_on_existing_tables_are_the_ones_created() -> None:
    ddl = otel_traces_ddl()
    alter = schema.render(schema.OTEL_TRACES_CODECS_DDL, "meshlens")
    for column, codec in schema.OTEL_TRACES_CODECS.items():
        assert re.search(rf"\n    {column} [^\n]* CODEC\({re.escape(codec)}\),\n", ddl), column
        assert f"MODIFY COLUMN {column} CODEC({codec})" in alter
    # every install runs migration 9 after creating the table: it must not change
    # Timestamp's codec, created for the sort by trace
    assert "MODIFY COLUMN Timestamp" not in alter
    assert f"Timestamp DateTime64(9) CODEC({schema.TIMESTAMP_CODEC})" in ddl
    assert alter.count("MODIFY COLUMN") == len(schema.OTEL_TRACES_CODECS)


def test_every_written_column_exists_in_otel_traces() -> None:
    ddl = otel_traces_ddl()
    nested = {m[0]: m[1] for m in re.findall(r"\n    (\w+) Nested \((.*?)\n    \)", ddl, re.S)}
    for name in SPAN_COLUMN_NAMES:
        parent, _, child = name.partition(".")
        if child:
            assert re.search(rf"\b{child} ", nested[parent]), name
        else:
            assert re.search(rf"\n    {name} ", ddl), name


def test_ttl_only_when_asked() -> None:
    assert "TTL" not in otel_traces_ddl()
    assert "TTL toDateTime(Timestamp) + toIntervalDay(30)\nSETTINGS" in otel_traces_ddl(30)
    index_ddl = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_DDL, "meshlens", 30)
    assert "TTL toDateTime(Start) + toIntervalDay(30)" in index_ddl
    assert "TTL" not in schema.render(schema.OTEL_TRACES_TRACE_ID_TS_MV_DDL, "meshlens", 30)


@pytest.mark.parametrize("ttl_days", [0, -1, True, 1.5])
def test_bad_ttl_is_refused_by_name(ttl_days: object) -> None:
    with pytest.raises(ValueError, match="ttl_days"):
        otel_traces_ddl(ttl_days)  # type: ignore[arg-type]


@pytest.mark.parametrize("database", ["", "a-b", "x`; DROP TABLE y", "1abc"])
def test_database_names_that_could_break_ddl_are_refused(database: str) -> None:
    with pytest.raises(ValueError, match="database"):
        schema.render(schema.OTEL_TRACES_DDL, database)


def test_trace_id_index_and_view() -> None:
    index_ddl = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_DDL, "mesh")
    assert "ORDER BY (TraceId, toUnixTimestamp(Start))" in index_ddl
    assert "INDEX idx_trace_id TraceId TYPE bloom_filter" in index_ddl
    operations = (
        "ServiceOperations Array(Tuple(ServiceName LowCardinality(String), "
        "SpanName LowCardinality(String)))"
    )
    assert operations in index_ddl
    assert "SETTINGS index_granularity = 1024" in index_ddl
    view = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_MV_DDL, "mesh")
    assert "TO `mesh`.otel_traces_trace_id_ts" in view
    assert "min(Timestamp) AS Start" in view and "max(Timestamp) AS End" in view
    assert "groupUniqArray((ServiceName, SpanName)) AS ServiceOperations" in view
    assert "WHERE TraceId != ''" in view and "GROUP BY TraceId" in view
    # Tables created before ServiceOperations get the same column and view query.
    added = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_OPERATIONS_DDL, "mesh")
    assert added.endswith(f"ADD COLUMN IF NOT EXISTS {operations} CODEC(ZSTD(3))")
    query = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_MV_QUERY_DDL, "mesh")
    assert query.split(" MODIFY QUERY ")[1] == view.split("\nAS ")[1]


def test_migrations_are_ordered_unique_and_idempotent() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert len({m.name for m in MIGRATIONS}) == len(MIGRATIONS)
    statements = [schema.render(s, "meshlens") for s in BOOTSTRAP]
    statements += [
        sql for m in MIGRATIONS for sql in m.render("meshlens", RetentionConfig.uniform(7))
    ]
    for sql in statements:
        # MODIFY SETTING, a codec or a view's query set a value: running again changes nothing.
        assert (
            "IF NOT EXISTS" in sql
            or "MODIFY SETTING" in sql
            or " MODIFY QUERY SELECT" in sql
            or re.fullmatch(r"ALTER TABLE \S+ (MODIFY COLUMN \w+ CODEC\([^;]*?\)(, )?)+", sql)
        ), sql
        assert "$" not in sql, sql
    assert "CREATE TABLE IF NOT EXISTS `meshlens`.schema_migrations" in statements[1]


def test_summary_columns_added_on_existing_tables_are_the_ones_created() -> None:
    created = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_DDL, "mesh")
    added = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_SUMMARY_DDL, "mesh")
    columns = added.split("ADD COLUMN IF NOT EXISTS ")[1:]
    assert [c.split()[0] for c in columns] == ["SpanCount", "ErrorCount", "SpansEndNs", "Root"]
    for column in columns:
        assert f"\n    {column.removesuffix(', ')}," in created
    view = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_MV_DDL, "mesh")
    for name in ("SpanCount", "ErrorCount", "SpansEndNs", "Root"):
        assert f"AS {name}\n" in view or f"AS {name}," in view
    # Migration 9 runs before the columns exist: its view query has none of them.
    v9 = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_MV_QUERY_V9_DDL, "mesh")
    assert "ServiceOperations" in v9 and "SpanCount" not in v9


def test_trace_id_table_blocks_altered_on_existing_tables_are_the_ones_created() -> None:
    created = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_DDL, "mesh")
    altered = schema.render(schema.OTEL_TRACES_TRACE_ID_TS_BLOCKS_DDL, "mesh")
    blocks = "min_compress_block_size = 8192, max_compress_block_size = 65536"
    assert altered == f"ALTER TABLE `mesh`.otel_traces_trace_id_ts MODIFY SETTING {blocks}"
    assert created.endswith(f"ttl_only_drop_parts = 1, {blocks}")
    # otel_traces keeps the default blocks: smaller ones cost it its 8x compression
    assert "compress_block_size" not in schema.render(schema.OTEL_TRACES_DDL, "mesh")
