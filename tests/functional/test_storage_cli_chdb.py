"""`meshlens storage status|migrate|retention` on the shared chdb store."""

from __future__ import annotations

import io

from meshlens.cli import build_parser
from storage import Store
from storage.commands import run_storage_command
from storage.migrations import MIGRATIONS


def run(store: Store, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["storage", *argv])
    out = io.StringIO()
    return run_storage_command(args, store.url, out, io.StringIO()), out.getvalue()


def test_status_and_migrate_report_every_migration(chdb_store: Store) -> None:
    code, out = run(chdb_store, "status")
    assert code == 0
    assert out.splitlines() == [f"{m.version:4d}  applied  {m.name}" for m in MIGRATIONS]
    code, out = run(chdb_store, "migrate")
    assert code == 0 and out.startswith("applied 0 migration(s)\n")


def test_retention_alters_existing_tables(chdb_store: Store) -> None:
    # Ten years: no test's data (2025 on) expires from the shared store.
    code, out = run(chdb_store, "retention", "--aggregates-days", "3650")
    assert code == 0
    assert out.splitlines() == [
        "ALTER TABLE `meshlens`.red_1m MODIFY TTL toDateTime(Minute) + toIntervalDay(3650)",
        "ALTER TABLE `meshlens`.service_edges_1m "
        "MODIFY TTL toDateTime(Minute) + toIntervalDay(3650)",
    ]


def test_resort_on_a_table_sorted_by_trace_does_nothing(chdb_store: Store) -> None:
    code, out = run(chdb_store, "resort")
    assert code == 0
    assert out == "otel_traces is sorted by trace already: nothing to do\n"
