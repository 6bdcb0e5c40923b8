"""Fixtures shared by functional tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage import Store, open_store


@pytest.fixture(scope="session")
def chdb_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One migrated chdb store for the whole pytest process.

    chdb allows one engine path per process, so every test shares this store:
    isolate tests by unique trace ids and service names, never by a new store.
    Open more Stores on `chdb_store.url` if needed (same path is allowed).
    """
    directory = tmp_path_factory.mktemp("chdb")
    store = open_store(f"chdb://{directory}")
    try:
        yield store
    finally:
        store.close()
