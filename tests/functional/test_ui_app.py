"""The UI served on a real port over InMemoryTraceReader: pages and callbacks over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from ui import UIServer, create_app, serve_ui
from ui.testing import DashCallbackClient, InMemoryTraceReader, sample_trace

MS = 1_000_000
S = 1_000 * MS
T0 = 1_735_689_600_000_000_000
NOW = T0 + 120 * S
OK_ID = "0af7651916cd43dd8448eb211c80319c"
FAILED_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
OLD_ID = "00f067aa0ba902b7aaaaaaaaaaaaaaaa"  # two hours before NOW: outside the default hour

SEARCH = "search-results.children"


@pytest.fixture(scope="module")
def reader() -> InMemoryTraceReader:
    return InMemoryTraceReader(
        [
            *sample_trace(OK_ID, T0),
            *sample_trace(FAILED_ID, T0 + 30 * S, failed=True),
            *sample_trace(OLD_ID, NOW - 7_200 * S),
        ]
    )


@pytest.fixture(scope="module")
def server(reader: InMemoryTraceReader) -> Iterator[UIServer]:
    server = serve_ui(create_app(reader, clock=lambda: NOW), "127.0.0.1", 0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(server: UIServer) -> DashCallbackClient:
    return DashCallbackClient(server.url)


def search(client: DashCallbackClient, **values: object) -> dict[str, dict[str, Any]]:
    form = {"search-status.value": "any", "search-time-range.value": "1h",
            "search-limit.value": 20, **{f"search-{k.replace('_', '-')}.value": v
                                         for k, v in values.items()}}
    return client.call(SEARCH, form, changed=["search-submit.n_clicks"])


def ids_in(component_tree: object, candidates: tuple[str, ...]) -> list[str]:
    """The candidate trace ids linked from a results table, in row order."""
    text = json.dumps(component_tree)
    found = [(text.find(f"/trace/{i}"), i) for i in candidates if f"/trace/{i}" in text]
    return [i for _, i in sorted(found)]


ALL = (OK_ID, FAILED_ID, OLD_ID)


def test_port_zero_binds_a_free_port(server: UIServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_search_page_is_served(client: DashCallbackClient) -> None:
    status, page = client.get("/")
    assert status == 200
    assert "<title>Traces · MeshLens</title>" in page
    assert 'id="react-entry-point"' in page
    assert "meshlens.css" in page
    assert f"/trace/{FAILED_ID}" in page  # the no-JS list of recent traces
    assert client.get("/assets/meshlens.css")[0] == 200


def test_trace_page_is_meaningful_without_javascript(client: DashCallbackClient) -> None:
    status, page = client.get(f"/trace/{FAILED_ID}")
    assert status == 200
    assert "<title>Trace 4bf92f35 · MeshLens</title>" in page
    assert FAILED_ID in page
    for service in ("frontend", "checkout", "payments"):
        assert service in page


def test_unknown_trace_is_a_page_that_says_not_found(client: DashCallbackClient) -> None:
    status, page = client.get("/trace/ffffffffffffffffffffffffffffffff")
    assert status == 200
    assert "not found" in page


def test_default_search_shows_the_most_recent_traces_of_the_last_hour(
    client: DashCallbackClient,
) -> None:
    response = search(client)
    assert ids_in(response["search-results"]["children"], ALL) == [FAILED_ID, OK_ID]
    scatter = response["search-scatter"]["figure"]
    assert {p for trace in scatter["data"] for p in trace["customdata"]} == {FAILED_ID, OK_ID}
    assert response["search-message"]["children"] == "2 traces, most recent first."


def test_search_filters_reach_the_reader(client: DashCallbackClient) -> None:
    assert ids_in(search(client, status="error")[SEARCH.split(".")[0]]["children"], ALL) == [
        FAILED_ID]
    by_attribute = search(client, attributes="http.response.status_code=200 http.route=/charge")
    assert ids_in(by_attribute["search-results"]["children"], ALL) == [OK_ID]
    wider = search(client, time_range="6h", service="payments", min_duration="60ms")
    assert ids_in(wider["search-results"]["children"], ALL) == [FAILED_ID, OK_ID, OLD_ID]
    assert ids_in(search(client, min_duration="61ms", service="payments")
                  ["search-results"]["children"], ALL) == []


def test_bad_form_input_names_the_bad_token_and_keeps_the_results(
    client: DashCallbackClient,
) -> None:
    response = search(client, attributes="http.route=/x oops", max_duration="soon")
    assert "search-results" not in response
    message = response["search-message"]
    assert "'oops' is not key=value" in message["children"]
    assert "max duration: 'soon'" in message["children"]
    assert "error" in message["className"]


def test_operations_follow_the_service(client: DashCallbackClient) -> None:
    response = client.call(
        "search-operation.options",
        {"search-service.value": "checkout", "search-operation.value": "GET /checkout"},
        changed=["search-service.value"],
    )
    assert response["search-operation"] == {
        "options": ["POST /checkout", "SELECT orders"],
        "value": None,  # GET /checkout is not a checkout operation
    }


def test_router_renders_the_trace_page_with_its_waterfall(client: DashCallbackClient) -> None:
    response = client.call("page-content.children", {"url.pathname": f"/trace/{FAILED_ID}"},
                           changed=["url.pathname"])
    text = json.dumps(response["page-content"]["children"])
    assert FAILED_ID in text
    assert "trace-waterfall" in text
    assert text.count('"customdata"') == 3  # one bar trace per service
    missing = client.call("page-content.children", {"url.pathname": "/trace/" + "e" * 32},
                          changed=["url.pathname"])
    assert "not found" in json.dumps(missing["page-content"]["children"])
    search_page = client.call("page-content.children", {"url.pathname": "/"},
                              changed=["url.pathname"])
    assert "search-results" in json.dumps(search_page["page-content"]["children"])


def test_clicking_a_span_shows_its_details(client: DashCallbackClient) -> None:
    span_id = FAILED_ID[:8] + f"{5:08x}"  # payments POST /charge
    click = {"points": [{"customdata": [span_id, 4]}]}
    response = client.call(
        "trace-span-details.children",
        {"trace-waterfall.clickData": click, "trace-id.data": FAILED_ID},
        changed=["trace-waterfall.clickData"],
    )
    text = json.dumps(response["trace-span-details"]["children"])
    for expected in ("payments: POST /charge", "card processor unavailable", "http.route",
                     "/charge", "service.version", "retry", "attempt", "+20.0 ms after span"):
        assert expected in text


def test_clicking_a_scatter_point_opens_the_trace(client: DashCallbackClient) -> None:
    response = client.call(
        "url.pathname",
        {"search-scatter.clickData": {"points": [{"customdata": OK_ID}]}},
        changed=["search-scatter.clickData"],
    )
    assert response == {"url": {"pathname": f"/trace/{OK_ID}"}}


def test_auto_refresh_toggle_and_custom_range_visibility(client: DashCallbackClient) -> None:
    assert client.call("search-refresh-interval.disabled",
                       {"search-auto-refresh.value": ["on"]}) == {
        "search-refresh-interval": {"disabled": False}}
    assert client.call("search-custom-range.hidden", {"search-time-range.value": "custom"}) == {
        "search-custom-range": {"hidden": False}}


def test_server_lifecycle_start_stop_start(reader: InMemoryTraceReader) -> None:
    server = serve_ui(create_app(reader, clock=lambda: NOW), "127.0.0.1", 0)
    server.stop()  # before start: nothing to do
    for _ in range(2):
        server.start()
        server.start()  # already running: no second server
        url = server.url
        assert DashCallbackClient(url).get("/")[0] == 200
        server.stop()
        server.stop()
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url + "/", timeout=2)


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_json_api_searches_like_the_form(server: UIServer) -> None:
    status, body = get_json(f"{server.url}/api/traces?service=payments&status=error&limit=5")
    assert status == 200
    [summary] = body["traces"]
    assert summary["trace_id"] == FAILED_ID
    assert summary["services"] == ["checkout", "frontend", "payments"]
    status, body = get_json(f"{server.url}/api/traces?time_range=6h")
    assert [t["trace_id"] for t in body["traces"]] == [FAILED_ID, OK_ID, OLD_ID]


def test_json_api_reports_every_bad_parameter(server: UIServer) -> None:
    status, body = get_json(f"{server.url}/api/traces?attributes=nokey&limit=0")
    assert status == 400
    assert body["errors"] == [
        "attributes: 'nokey' is not key=value",
        "limit: '0' is not a whole number from 1 to 1000",
    ]


def test_json_api_returns_a_trace_with_every_span_field(server: UIServer) -> None:
    status, body = get_json(f"{server.url}/api/traces/{FAILED_ID}")
    assert status == 200
    spans = {s["span_name"]: s for s in body["spans"]}
    charge = spans["POST /charge"]
    assert charge["service_name"] == "payments"
    assert charge["status_code"] == "Error"
    assert charge["span_attributes"]["http.response.status_code"] == "503"
    assert charge["events"][0]["name"] == "retry"
    assert spans["GET /checkout"]["parent_span_id"] == ""
    status, body = get_json(f"{server.url}/api/traces/{'d' * 32}")
    assert (status, body["spans"]) == (404, [])
