"""OTLP protobuf trace requests into `otel_traces`, decoded by ClickHouse itself.

The requests are sent as they were received, length-delimited, in ClickHouse's
`Protobuf` input format (schema: storage/otlp_trace.proto, passed inline), and
one `INSERT ... SELECT` flattens resource spans, scope spans and spans with
ARRAY JOIN into the same rows that `writer.insert_spans` writes for the decoded
columns: no Python work per span. chdb reads the requests from a temporary
file (`file()`); a ClickHouse server from the request body (`input()`).

Attribute values become strings as collector/translate/attributes.py makes
them: strings as they are, bools "true"/"false", ints in decimal, bytes base64,
an absent value ""; a key given twice keeps its first place and its last value.
Doubles, arrays and kvlists are not converted here: the collector sends requests
holding them down the Python path (collector/translate/otlp_passthrough.py).

A request ClickHouse cannot read raises `OtlpRequestsRejected`, so that the
caller can decode the batch in Python instead of retrying it forever. Over HTTP
the statement (about 9 KB) and the schema travel in the URL, the requests in the
body.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from storage.model import SPAN_COLUMN_NAMES, SPAN_KINDS, STATUS_CODES
from storage.writer import dedup_settings

SCHEMA_FILE = Path(__file__).parent / "otlp_trace.proto"
SCHEMA = SCHEMA_FILE.read_text()
MESSAGE = "ExportTraceServiceRequest"


class OtlpRequestsRejected(ValueError):
    """ClickHouse could not read the requests (not the storage being unreachable)."""


_VALUE_KINDS = ", ".join(
    f"'{name}' = {number}"
    for number, name in enumerate(
        ("none", "string_value", "bool_value", "int_value", "double_value", "array_value",
         "kvlist_value", "bytes_value", "string_value_strindex")
    )
)  # fmt: skip
# `value` is the oneof's name: with input_format_protobuf_oneof_presence ClickHouse
# says there which member was on the wire (the last one, as protobuf's parsers do).
_ANY_VALUE = (
    f"Tuple(value Enum8({_VALUE_KINDS}), string_value String, bool_value UInt8, "
    "int_value Int64, bytes_value String)"
)
_KEY_VALUES = f"Array(Tuple(key String, value {_ANY_VALUE}))"
_SPAN = (
    "Tuple(trace_id String, span_id String, trace_state String, parent_span_id String, "
    "name String, kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64, "
    f"attributes {_KEY_VALUES}, "
    f"events Array(Tuple(time_unix_nano UInt64, name String, attributes {_KEY_VALUES})), "
    "links Array(Tuple(trace_id String, span_id String, trace_state String, "
    f"attributes {_KEY_VALUES})), "
    "status Tuple(message String, code Int32))"
)
# One row per request.
INPUT_STRUCTURE = (
    f"resource_spans Array(Tuple(resource Tuple(attributes {_KEY_VALUES}), "
    "scope_spans Array(Tuple(scope Tuple(name String, version String), "
    f"spans Array({_SPAN})))))"
)


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_array(values: Sequence[str]) -> str:
    return "[" + ", ".join(_sql_string(v) for v in values) + "]"


def _value_text(v: str) -> str:
    return (
        f"multiIf({v}.value = 'string_value', {v}.string_value, "
        f"{v}.value = 'int_value', toString({v}.int_value), "
        f"{v}.value = 'bool_value', if({v}.bool_value != 0, 'true', 'false'), "
        f"{v}.value = 'bytes_value', base64Encode({v}.bytes_value), '')"
    )


def _attribute_map(key_values: str) -> str:
    """A Map from an array of KeyValue tuples, as a Python dict built in order would be."""
    keys = f"arrayMap(kv -> kv.key, {key_values})"
    values = f"arrayMap(kv -> {_value_text('kv.value')}, {key_values})"
    # Keys given twice (rare): keep each key's first place and its last value.
    first = f"arrayMap((k, i) -> indexOf({keys}, k) = i, {keys}, arrayEnumerate({keys}))"
    last_values = f"arrayMap(k -> {values}[arrayLastIndex(x -> x = k, {keys})], {keys})"
    deduplicated = (
        f"mapFromArrays(arrayFilter((k, f) -> f, {keys}, {first}), "
        f"arrayFilter((v, f) -> f, {last_values}, {first}))"
    )
    return (
        f"if(length(arrayDistinct({keys})) = length({key_values}), "
        f"mapFromArrays({keys}, {values}), {deduplicated})"
    )


def _hex(value: str) -> str:
    return f"lower(hex({value}))"


def _nanoseconds(value: str) -> str:
    return f"fromUnixTimestamp64Nano(toInt64({value}))"


# Aliased as the columns they fill, in SPAN_COLUMN_NAMES order.
_COLUMNS = (
    _nanoseconds("span.start_time_unix_nano"),
    _hex("span.trace_id"),
    _hex("span.span_id"),
    _hex("span.parent_span_id"),
    "span.trace_state",
    "span.name",
    f"arrayElement({_sql_array(SPAN_KINDS)}, span.kind + 1)",
    "if(mapContains(resource, 'service.name'), resource['service.name'], 'unknown_service')",
    "resource",
    "scope.scope.name",
    "scope.scope.version",
    _attribute_map("span.attributes"),
    "span.end_time_unix_nano - span.start_time_unix_nano",
    f"arrayElement({_sql_array(STATUS_CODES)}, span.status.code + 1)",
    "span.status.message",
    f"arrayMap(e -> {_nanoseconds('e.time_unix_nano')}, span.events)",
    "arrayMap(e -> e.name, span.events)",
    f"arrayMap(e -> {_attribute_map('e.attributes')}, span.events)",
    f"arrayMap(l -> {_hex('l.trace_id')}, span.links)",
    f"arrayMap(l -> {_hex('l.span_id')}, span.links)",
    "arrayMap(l -> l.trace_state, span.links)",
    f"arrayMap(l -> {_attribute_map('l.attributes')}, span.links)",
)
assert len(_COLUMNS) == len(SPAN_COLUMN_NAMES)


def flatten_select(source: str) -> str:
    """SELECT one row per span, in otel_traces columns, from requests in `source`."""
    pairs = zip(_COLUMNS, SPAN_COLUMN_NAMES, strict=True)
    columns = ",\n  ".join(f"{expression} AS `{name}`" for expression, name in pairs)
    # The resource's attribute map is built once per resource, not once per span.
    return (
        f"SELECT\n  {columns}\n"
        f"FROM (SELECT resource_spans_row, "
        f"{_attribute_map('resource_spans_row.resource.attributes')} AS resource "
        f"FROM {source} ARRAY JOIN resource_spans AS resource_spans_row)\n"
        "ARRAY JOIN resource_spans_row.scope_spans AS scope\n"
        "ARRAY JOIN scope.spans AS span"
    )


def format_settings(*, local_files: bool = False) -> dict[str, object]:
    """How ClickHouse must read the requests: the schema, oneof presence on.

    An embedded engine reads the shipped .proto file by its path. A server has no
    such file, so it gets the schema inline; it caches inline schemas in its own
    format_schemas directory, which chdb would put in our working directory.
    """
    if local_files:
        schema = {"format_schema": str(SCHEMA_FILE)}
    else:
        schema = {"format_schema": SCHEMA, "format_schema_source": "string"}
    return {
        **schema,
        "format_schema_message_name": MESSAGE,
        "input_format_protobuf_oneof_presence": 1,
    }


def length_delimited(payloads: Sequence[bytes]) -> bytes:
    """The requests as ClickHouse's `Protobuf` format reads them: each after its varint size."""
    parts: list[bytes] = []
    for payload in payloads:
        size, prefix = len(payload), bytearray()
        while size >= 0x80:
            prefix.append(size & 0x7F | 0x80)
            size >>= 7
        prefix.append(size)
        parts.append(bytes(prefix))
        parts.append(payload)
    return b"".join(parts)


def insert_sql(database: str, source: str, settings: dict[str, object] | None = None) -> str:
    columns = ", ".join(f"`{name}`" for name in SPAN_COLUMN_NAMES)
    clause = ""
    if settings:
        clause = " SETTINGS " + ", ".join(
            f"{name} = {_sql_string(value) if isinstance(value, str) else value}"
            for name, value in settings.items()
        )
    return f"INSERT INTO `{database}`.otel_traces ({columns}){clause}\n{flatten_select(source)}"


def insert_otlp_traces(
    client: Client,
    database: str,
    payloads: Sequence[bytes],
    dedup_token: str | None = None,
    *,
    local_files: bool,
) -> None:
    """Insert every span of `payloads` (serialized ExportTraceServiceRequests).

    `local_files`: the engine runs in this process (chdb) and reads a file we
    write; otherwise the requests go in the body of the HTTP request.
    """
    if not payloads:
        return
    body = length_delimited(payloads)
    settings = {**dedup_settings(dedup_token), **format_settings(local_files=local_files)}
    try:
        if local_files:
            _insert_from_file(client, database, body, settings)
        else:
            structure = _sql_string(INPUT_STRUCTURE)
            client.command(
                insert_sql(database, f"input({structure})") + "\nFORMAT Protobuf",
                data=body,
                settings=settings,
            )
    except OperationalError:
        raise  # unreachable or overloaded storage: retry the same batch later
    except DatabaseError as exc:
        raise OtlpRequestsRejected(f"ClickHouse could not insert the OTLP requests: {exc}") from exc


def _insert_from_file(
    client: Client, database: str, body: bytes, settings: dict[str, object]
) -> None:
    descriptor, path = tempfile.mkstemp(prefix="meshlens-otlp-", suffix=".pb")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(body)
        source = f"file({_sql_string(path)}, 'Protobuf', {_sql_string(INPUT_STRUCTURE)})"
        # Settings inline: given to the client, chdb would SET and restore each one.
        client.command(insert_sql(database, source, settings))
    finally:
        os.unlink(path)
