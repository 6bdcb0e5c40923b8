"""`meshlens storage resort`: an otel_traces in the exporter's order, sorted by trace.

Tables created before 2026-11-26 are sorted by (ServiceName, SpanName, time),
and ORDER BY cannot be altered. This creates a table from today's DDL beside
it, copies the spans into it partition by partition (a day at a time), checks
that both hold as many spans, and swaps the two with EXCHANGE TABLES, which is
atomic: the materialized views hang on the name otel_traces and keep firing on
the new table, and the copy fires none of them, so nothing derived is counted
twice. The old table is dropped last. Its TTL, if any, is carried over. A run
stopped before the swap leaves otel_traces as it was (the next run starts over);
one stopped after it leaves the old spans in otel_traces_resorted, which the next
run drops.

Run it with no writer: spans written to the old table during the copy would be
lost with it. For chdb, stop `meshlens up` (one process owns the directory);
for a server, stop the collectors. Cluster mode is refused: re-sort each
shard's otel_traces_local by hand, as docs/operations.md says.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from storage import schema
from storage.queries.trace_by_id import sorted_by_trace

RESORTED = "otel_traces_resorted"
# system.tables.create_table_query is on one line.
_TTL = re.compile(r"\sTTL (.+?)\sSETTINGS\s")


class ResortError(RuntimeError):
    """The spans could not be re-sorted; otel_traces is left as it was."""


def resort_spans(client: Client, database: str, say: Callable[[str], None]) -> bool:
    """Re-sort `database`.otel_traces by trace; False if it already is (nothing done)."""
    if not schema.DATABASE_NAME.match(database):
        raise ValueError(f"database: must match {schema.DATABASE_NAME.pattern}, got {database!r}")
    traces, resorted = f"`{database}`.otel_traces", f"`{database}`.{RESORTED}"
    rows = client.query(
        "SELECT engine, create_table_query FROM system.tables "
        "WHERE database = {db:String} AND name = 'otel_traces'",
        parameters={"db": database},
    ).result_rows
    if not rows:
        raise ResortError(f"{traces} does not exist: run `meshlens storage migrate` first")
    engine, created = rows[0]
    if engine == "Distributed":
        raise ResortError(
            f"{traces} is Distributed (cluster mode): re-sort each shard's otel_traces_local "
            "by hand (docs/operations.md, 'Re-sorting otel_traces')"
        )
    if sorted_by_trace(client, database):
        # A run stopped between the swap and the drop left the old spans behind.
        client.command(f"DROP TABLE IF EXISTS {resorted}")
        return False
    ddl = schema.render(schema.OTEL_TRACES_DDL, database)
    ddl = ddl.replace(f"{traces} (", f"{resorted} (", 1)
    if ttl := _TTL.search(created):
        ddl = ddl.replace("\nSETTINGS ", f"\nTTL {ttl[1]}\nSETTINGS ", 1)
    client.command(f"DROP TABLE IF EXISTS {resorted}")  # what an interrupted run left
    client.command(ddl)
    columns = ", ".join(
        f"`{name}`"
        for (name,) in client.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "ORDER BY position",
            parameters={"db": database, "t": RESORTED},
        ).result_rows
    )
    partitions = client.query(
        "SELECT DISTINCT partition_id FROM system.parts "
        "WHERE database = {db:String} AND table = 'otel_traces' AND active ORDER BY partition_id",
        parameters={"db": database},
    ).result_rows
    for (partition,) in partitions:
        client.command(
            f"INSERT INTO {resorted} ({columns}) SELECT {columns} FROM {traces} "
            "WHERE _partition_id = {p:String}",
            parameters={"p": partition},
        )
        say(f"copied partition {partition}")
    before, after = (
        client.query(f"SELECT count() FROM {table}").result_rows[0][0]
        for table in (traces, resorted)
    )
    if before != after:
        client.command(f"DROP TABLE IF EXISTS {resorted}")
        raise ResortError(
            f"{traces} holds {before} spans but the copy {after}: was a collector writing? "
            "Nothing was swapped; stop every writer and run it again"
        )
    client.command(f"EXCHANGE TABLES {traces} AND {resorted}")
    client.command(f"DROP TABLE {resorted}")
    say(f"{traces}: {after} spans, now sorted by ({schema.OTEL_TRACES_PRIMARY_KEY})")
    return True
