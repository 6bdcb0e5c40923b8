"""Open a clickhouse-connect client for a parsed storage target."""

from __future__ import annotations

import os

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from storage.url import ChdbTarget, HttpTarget, StorageTarget


def connect(target: StorageTarget) -> Client:
    """A client for `target`; the database is not selected, since it may not exist yet.

    Every query names its tables as `database.table`, so the same client works
    before and after the database is created.
    """
    if isinstance(target, ChdbTarget):
        os.makedirs(target.path, exist_ok=True)
        # One chdb engine path per process: a second path raises ProgrammingError here.
        return clickhouse_connect.get_client(interface="chdb", path=target.path)
    if isinstance(target, HttpTarget):
        return clickhouse_connect.get_client(
            host=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            secure=target.secure,
        )
    raise TypeError(f"unknown storage target {target!r}")
