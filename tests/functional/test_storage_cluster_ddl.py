"""The cluster DDL is valid ClickHouse SQL: parsed by the real engine (chdb), every
statement. (Running it needs a cluster; deploy/clickhouse/ has one.)"""

from __future__ import annotations

from storage import RetentionConfig, Store
from storage.connection import connect
from storage.migrations import render_all
from storage.url import parse_storage_url


def test_every_cluster_statement_parses(chdb_store: Store) -> None:
    client = connect(parse_storage_url(chdb_store.url))
    try:
        statements = render_all("meshlens", RetentionConfig(7, 90, 365), "meshlens_cluster")
        for sql in statements:
            ast = client.query("EXPLAIN AST " + sql).result_rows
            assert ast, sql[:80]
    finally:
        client.close()
