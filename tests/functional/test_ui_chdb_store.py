"""The UI over the real chdb store: what the collector writes, the UI finds and shows.

Uses the session `chdb_store` (one chdb engine per process); the services of
this module carry a random tag, so data of other tests never matches.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator

import pytest

from storage import Store, TraceSearchQuery
from tests.spans import BASE_NS, to_columns
from ui import TraceReader, UIServer, create_app, serve_ui
from ui.testing import DashCallbackClient, sample_trace

S = 1_000_000_000
T0 = BASE_NS + 7_200 * S
NOW = T0 + 600 * S


@pytest.fixture(scope="module")
def tag() -> str:
    return os.urandom(5).hex()


@pytest.fixture(scope="module")
def trace_ids(chdb_store: Store, tag: str) -> dict[str, str]:
    ids = {"ok": os.urandom(16).hex(), "failed": os.urandom(16).hex()}
    spans = [
        dataclasses.replace(
            span,
            service_name=f"{tag}-{span.service_name}",
            resource_attributes={**span.resource_attributes, "test.run": tag},
        )
        for span in (
            *sample_trace(ids["ok"], T0),
            *sample_trace(ids["failed"], T0 + 10 * S, failed=True),
        )
    ]
    chdb_store.write_spans(to_columns(*spans))
    return ids


@pytest.fixture(scope="module")
def client(chdb_store: Store, trace_ids: dict[str, str]) -> Iterator[DashCallbackClient]:
    server: UIServer = serve_ui(create_app(chdb_store, clock=lambda: NOW), "127.0.0.1", 0)
    server.start()
    try:
        yield DashCallbackClient(server.url)
    finally:
        server.stop()


def test_the_store_is_a_trace_reader(chdb_store: Store) -> None:
    assert isinstance(chdb_store, TraceReader)
    assert chdb_store.search_traces(TraceSearchQuery(service="no-such-service")) == []


def test_search_callback_finds_the_traces_in_chdb(
    client: DashCallbackClient, tag: str, trace_ids: dict[str, str]
) -> None:
    form = {
        "search-service.value": f"{tag}-payments",
        "search-time-range.value": "1h",
        "search-status.value": "any",
        "search-attributes.value": f"test.run={tag}",
    }
    response = client.call("search-results.children", form, changed=["search-submit.n_clicks"])
    text = json.dumps(response["search-results"]["children"])
    assert text.index(trace_ids["failed"]) < text.index(trace_ids["ok"])  # most recent first

    errors_only = client.call(
        "search-results.children",
        {**form, "search-status.value": "error"},
        changed=["search-status.value"],
    )
    text = json.dumps(errors_only["search-results"]["children"])
    assert trace_ids["failed"] in text
    assert trace_ids["ok"] not in text


def test_trace_page_names_every_service_from_chdb(
    client: DashCallbackClient, tag: str, trace_ids: dict[str, str]
) -> None:
    status, page = client.get(f"/trace/{trace_ids['failed']}")
    assert status == 200
    assert f"Trace {trace_ids['failed'][:8]} · MeshLens" in page
    for service in ("frontend", "checkout", "payments"):
        assert f"{tag}-{service}" in page
    waterfall = client.call(
        "page-content.children",
        {"url.pathname": f"/trace/{trace_ids['failed']}"},
        changed=["url.pathname"],
    )
    assert f"{tag}-payments: POST /charge" in json.dumps(waterfall)


def test_service_and_operation_choices_come_from_chdb(
    client: DashCallbackClient, tag: str, trace_ids: dict[str, str]
) -> None:
    response = client.call(
        "search-operation.options",
        {"search-service.value": f"{tag}-checkout"},
        changed=["search-service.value"],
    )
    assert response["search-operation"]["options"] == ["POST /checkout", "SELECT orders"]
    search_page = client.call(
        "page-content.children", {"url.pathname": "/"}, changed=["url.pathname"]
    )
    assert f"{tag}-frontend" in json.dumps(search_page)  # the service dropdown's choices
