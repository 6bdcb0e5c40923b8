"""Migrations on a real chdb engine, and how open_store refuses bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage import RetentionConfig, StorageURLError, Store, open_store
from storage.connection import connect
from storage.migrations import MIGRATIONS
from storage.url import parse_storage_url

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
