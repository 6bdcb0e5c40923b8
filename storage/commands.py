"""`meshlens storage migrate|status|retention|init|resort`: the schema, by hand.

- migrate: apply pending migrations (tables created now get the TTL flags given);
- status: each migration, applied or pending;
- retention: change the TTL of existing tables (ALTER TABLE ... MODIFY TTL);
- init: create the schema; with --cluster NAME, ON CLUSTER with Replicated and
  Distributed tables (deploy/clickhouse/ has a 2 x 2 cluster); with --print, only
  print the SQL, touching nothing;
- resort: sort an otel_traces created in the exporter's order by trace
  (storage/resort.py); with no writer running.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from storage.migrations import render_all
from storage.retention import RetentionConfig
from storage.url import StorageURLError, parse_storage_url

if TYPE_CHECKING:
    from storage.store import Store

ACTIONS = ("migrate", "status", "retention", "init", "resort")


def add_storage_arguments(p: argparse.ArgumentParser) -> None:
    """The `meshlens storage` subcommand's arguments (--storage is added by the CLI)."""
    p.add_argument("action", choices=ACTIONS)
    for cls, example in (("spans", 7), ("aggregates", 90), ("audit", 365)):
        p.add_argument(
            f"--{cls}-days",
            type=int,
            metavar="N",
            help=f"keep {cls} N days (e.g. {example}); for retention, migrate, init",
        )
    p.add_argument(
        "--cluster", metavar="NAME", help="init: the ClickHouse cluster (remote_servers)"
    )
    p.add_argument("--print", action="store_true", help="init: print the SQL, run nothing")


def retention_from_args(args: argparse.Namespace) -> RetentionConfig:
    return RetentionConfig(
        spans_days=args.spans_days, aggregates_days=args.aggregates_days, audit_days=args.audit_days
    )


def run_storage_command(
    args: argparse.Namespace, storage_url: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Exit status 0; 2 with the problem on `err` for bad arguments; 1 when a resort
    cannot be done (otel_traces is then as it was)."""
    from storage.connection import connect
    from storage.resort import ResortError
    from storage.store import Store

    try:
        retention = retention_from_args(args)
        target = parse_storage_url(storage_url)
    except (ValueError, StorageURLError) as exc:
        print(f"meshlens storage: {exc}", file=err)
        return 2
    if args.cluster and args.action != "init":
        print("meshlens storage: --cluster: only with init", file=err)
        return 2
    if args.action == "retention" and retention == RetentionConfig():
        print("meshlens storage retention: give --spans-days, --aggregates-days "
              "and/or --audit-days", file=err)  # fmt: skip
        return 2
    if args.action == "init" and args.print:
        try:
            statements = render_all(target.database, retention, args.cluster)
        except ValueError as exc:
            print(f"meshlens storage: {exc}", file=err)
            return 2
        for sql in statements:
            print(sql + ";\n", file=out)
        return 0
    store = Store(connect(target), url=storage_url, database=target.database, ttl=retention,
                  cluster=args.cluster)  # fmt: skip
    try:
        if args.action == "retention":
            for sql in store.apply_retention(retention):
                print(sql, file=out)
            return 0
        if args.action == "resort":
            try:
                done = store.resort_spans(lambda line: print(line, file=out))
            except ResortError as exc:
                print(f"meshlens storage resort: {exc}", file=err)
                return 1
            if not done:
                print("otel_traces is sorted by trace already: nothing to do", file=out)
            return 0
        if args.action == "status":
            store.bootstrap()  # the migrations table, so a fresh store reports all pending
        else:
            applied = store.migrate()
            print(f"applied {len(applied)} migration(s)" + (f": {applied}" if applied else ""),
                  file=out)  # fmt: skip
        print_status(store, out)
    finally:
        store.close()
    return 0


def print_status(store: Store, out: TextIO) -> None:
    """Each migration, applied or pending, and a word on an otel_traces sorted the old way."""
    for version, name, done in store.migration_status():
        print(f"{version:4d}  {'applied' if done else 'pending':8s} {name}", file=out)
    if store.spans_sorted_by_trace() is False:
        print("otel_traces is sorted by service, as the exporter sorts, not by trace: "
              "trace by id reads more (docs/operations.md, 'Re-sorting otel_traces')",
              file=out)  # fmt: skip
