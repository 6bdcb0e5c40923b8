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
_TTL = re.compile(r"\sTTL (.+?)(?:\sSETTINGS\s|$)")
_SETTINGS = re.compile(r"\sSETTINGS (.+)$")
# What our DDL, the exporter's or an earlier one of ours sets; anything else (a
# storage policy, say) would be lost in the copy: refused.
_KNOWN_SETTINGS = frozenset({
    "index_granularity", "ttl_only_drop_parts", "non_replicated_deduplication_window",
    "min_compress_block_size", "max_compress_block_size",
})


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
        if _columns(client, database, RESORTED):
            say(f"dropped {resorted}: the old spans a run stopped after the swap left")
            client.command(f"DROP TABLE {resorted} SYNC")
        return False
    ddl = schema.render(schema.OTEL_TRACES_DDL, database)
    ddl = ddl.replace(f"{traces} (", f"{resorted} (", 1)
    if ttl := _TTL.search(created):
        ddl = ddl.replace("\nSETTINGS ", f"\nTTL {ttl[1]}\nSETTINGS ", 1)
    elif " TTL " in created:
        raise ResortError(f"{traces}: its TTL could not be read, so it would be lost: {created}")
    if settings := _SETTINGS.search(created):
        unknown = sorted({item.split(" = ")[0] for item in settings[1].split(", ")}
                         - _KNOWN_SETTINGS)  # fmt: skip
        if unknown:
            raise ResortError(f"{traces} has settings the copy would lose: {', '.join(unknown)}")
    client.command(f"DROP TABLE IF EXISTS {resorted} SYNC")  # what an interrupted run left
    client.command(ddl)
    old, new = _columns(client, database, "otel_traces"), _columns(client, database, RESORTED)
    if old != new:
        client.command(f"DROP TABLE {resorted} SYNC")
        raise ResortError(
            f"{traces}'s columns differ from today's, so a copy would lose or lack some: "
            f"only in {traces}: {sorted(set(old) - set(new))}; "
            f"only in today's: {sorted(set(new) - set(old))}"
        )
    columns = ", ".join(f"`{name}`" for name, _ in new)
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
    say(f"{traces}: {after} spans, now sorted by ({schema.OTEL_TRACES_PRIMARY_KEY})")
    late = client.query(f"SELECT count() FROM {resorted}").result_rows[0][0] - before
    if late:
        say(f"{late} spans reached the old table after the copy: kept in {resorted}; "
            f"INSERT them into {traces} (they are the newest), then drop it")  # fmt: skip
    else:
        client.command(f"DROP TABLE {resorted} SYNC")
    return True


def _columns(client: Client, database: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of each column, in order; [] if there is no such table."""
    return [
        (str(name), str(kind))
        for name, kind in client.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String} "
            "AND table = {t:String} ORDER BY position",
            parameters={"db": database, "t": table},
        ).result_rows
    ]
