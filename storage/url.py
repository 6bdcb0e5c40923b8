"""Storage URLs: which ClickHouse engine to use and how to reach it.

Parsing is separate from connecting so that every accepted and refused form is
checked by unit tests without an engine, and so a bad URL is refused before
anything touches the disk or the network.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from storage.schema import DATABASE_NAME

DEFAULT_URL = "chdb://./.meshlens/data"
DEFAULT_DATABASE = "meshlens"

ACCEPTED_FORMS = (
    "chdb:///absolute/dir, chdb://./relative/dir, "
    "http(s)://host[:port][/database][?user=NAME&password=SECRET]"
)

_HTTP_QUERY_KEYS = frozenset({"user", "password"})


class StorageURLError(ValueError):
    """A storage URL that names no engine we can open."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(
            f"storage URL {redact_url(url)!r}: {problem}; accepted forms: {ACCEPTED_FORMS}"
        )


@dataclass(frozen=True, slots=True)
class ChdbTarget:
    """ClickHouse's engine inside this process, keeping its data in `path`."""

    path: str  # absolute
    database: str = DEFAULT_DATABASE
    engine: Literal["chdb"] = "chdb"


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """A ClickHouse server (or cluster entry point) over its HTTP interface."""

    host: str
    port: int
    secure: bool
    database: str = DEFAULT_DATABASE
    username: str = "default"
    password: str = ""
    engine: Literal["http"] = "http"

    def __repr__(self) -> str:
        # Targets end up in logs; the password must not.
        return (
            f"HttpTarget(host={self.host!r}, port={self.port}, secure={self.secure}, "
            f"database={self.database!r}, username={self.username!r}, password='***')"
        )


StorageTarget = ChdbTarget | HttpTarget


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None and "password=" not in parts.query:
        return url  # untouched: urlunsplit would respell chdb:///dir as chdb:/dir
    netloc = parts.netloc
    if password is not None:
        netloc = netloc.replace(f":{password}@", ":***@", 1)
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_storage_url(url: str | None = None, *, cwd: str | None = None) -> StorageTarget:
    """Read a storage URL; relative chdb paths resolve against `cwd` (default: the process's)."""
    url = DEFAULT_URL if url is None else url
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StorageURLError(url, "no scheme")
    scheme = scheme.lower()
    if scheme == "chdb":
        return _parse_chdb(url, rest, cwd)
    if scheme in ("http", "https"):
        return _parse_http(url)
    raise StorageURLError(url, f"unknown scheme {scheme!r}")


def _parse_chdb(url: str, rest: str, cwd: str | None) -> ChdbTarget:
    if "?" in rest or "#" in rest:
        raise StorageURLError(url, "chdb URLs take no query or fragment")
    path = unquote(rest)
    if not path or path in ("/", "."):
        raise StorageURLError(url, "chdb URL names no data directory")
    if not os.path.isabs(path):
        if not path.startswith(("./", "../")):
            # chdb://host/x would otherwise silently become a relative dir "host/x".
            raise StorageURLError(url, "a relative chdb path must start with ./ or ../")
        path = os.path.join(cwd or os.getcwd(), path)
    return ChdbTarget(path=os.path.normpath(path))


def _parse_http(url: str) -> HttpTarget:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise StorageURLError(url, str(exc)) from None
    if not parts.hostname:
        raise StorageURLError(url, "no host")
    if parts.fragment:
        raise StorageURLError(url, "fragments are not accepted")
    secure = parts.scheme.lower() == "https"
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - _HTTP_QUERY_KEYS)
    if unknown:
        raise StorageURLError(url, f"unknown query parameter(s) {', '.join(unknown)}")
    database = parts.path.strip("/") or DEFAULT_DATABASE
    if not DATABASE_NAME.match(database):
        raise StorageURLError(url, f"database name {database!r} must match {DATABASE_NAME.pattern}")
    username = query.get("user", [unquote(parts.username or "") or "default"])[-1]
    password = query.get("password", [unquote(parts.password or "")])[-1]
    return HttpTarget(
        host=parts.hostname,
        port=port or (8443 if secure else 8123),
        secure=secure,
        database=database,
        username=username,
        password=password,
    )
