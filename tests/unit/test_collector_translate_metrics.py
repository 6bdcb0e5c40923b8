"""Metrics decoding: each data point type to its table's columns, from the SDK's
protobuf and from OTLP/JSON; invalid metrics and points left out and named."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from collector.translate import OtlpDecodeError, decode_metrics_json, decode_metrics_protobuf
from storage.metrics_model import MetricColumns
from tests.sdk_telemetry import column_rows as rows
from tests.sdk_telemetry import sdk_metrics

METRICS_JSON = (Path(__file__).parent / "otlp_data" / "metrics.json").read_bytes()
METRIC = "resourceMetrics[0].scopeMetrics[0].metrics"


def sdk_request() -> ExportMetricsServiceRequest:
    return encode_metrics(sdk_metrics("checkout"))


def only_row(columns: Any) -> dict[str, Any]:
    [row] = rows(columns)
    return row


def test_every_sdk_metric_type_from_protobuf() -> None:
    request = sdk_request()
    decoded = decode_metrics_protobuf(request.SerializeToString())
    assert decoded.rejected == 0
    batch = decoded.batch
    assert len(batch) == 5

    sums = {row["MetricName"]: row for row in rows(batch.sums)}
    requests, inflight = sums["requests"], sums["inflight"]
    assert inflight["Value"] == 3.0 and inflight["IsMonotonic"] is False
    assert requests["Value"] == 7.0 and requests["IsMonotonic"] is True
    assert requests["AggregationTemporality"] == 2  # cumulative
    assert requests["Attributes"] == {"route": "/a"}
    assert requests["MetricUnit"] == "1" and requests["MetricDescription"] == "Requests served"
    assert requests["ServiceName"] == "checkout"
    assert (requests["ScopeName"], requests["ScopeVersion"]) == ("tests.metrics", "1.0")
    assert requests["TimeUnix"] >= requests["StartTimeUnix"] > 0

    latency = only_row(batch.histograms)
    assert (latency["Count"], latency["Sum"], latency["Min"], latency["Max"]) == (3, 555, 5, 500)
    assert latency["BucketCounts"] == [1, 1, 1] and latency["ExplicitBounds"] == [10, 100]

    sizes = only_row(batch.exponential_histograms)
    sent = next(
        m for m in request.resource_metrics[0].scope_metrics[0].metrics if m.name == "sizes"
    ).exponential_histogram.data_points[0]
    assert (sizes["Count"], sizes["Sum"], sizes["Min"], sizes["Max"]) == (4, 15, 1, 8)
    assert sizes["Scale"] == sent.scale and sizes["PositiveOffset"] == sent.positive.offset
    assert sizes["PositiveBucketCounts"] == list(sent.positive.bucket_counts)
    assert sum(sizes["PositiveBucketCounts"]) + sizes["ZeroCount"] == 4

    temperature = only_row(batch.gauges)
    assert temperature["Value"] == 21.5 and temperature["Attributes"] == {"room": "a"}


def test_every_type_from_json() -> None:
    decoded = decode_metrics_json(METRICS_JSON)
    assert decoded.rejected == 0
    batch = decoded.batch
    counter = only_row(batch.sums)
    assert counter == counter | {
        "ResourceSchemaUrl": "https://opentelemetry.io/schemas/1.26.0",
        "ScopeSchemaUrl": "https://opentelemetry.io/schemas/1.25.0",
        "ScopeAttributes": {"my.scope.attribute": "x"},
        "ScopeDroppedAttrCount": 2,
        "ServiceName": "my.service",
        "MetricName": "my.counter",
        "Value": 5.0,  # asInt, stored as a double as the upstream exporter does
        "AggregationTemporality": 1,
        "IsMonotonic": True,
        "StartTimeUnix": 1544712660300000000,
        "TimeUnix": 1544712661300000000,
        "ExemplarsTraceId": ["5b8efff798038103d269b633813fc60c"],
        "ExemplarsSpanId": ["eee19b7ec3c1b174"],
        "ExemplarsValue": [1.5],
        "ExemplarsTimeUnix": [1544712661000000000],
        "ExemplarsFilteredAttributes": [{"user": "u1"}],
    }
    assert only_row(batch.gauges)["Value"] == 21.5
    assert only_row(batch.gauges)["Flags"] == 1
    histogram = only_row(batch.histograms)
    assert (histogram["Count"], histogram["BucketCounts"], histogram["ExplicitBounds"]) == (
        3, [1, 1, 1], [10.0, 100.0],
    )  # fmt: skip
    exponential = only_row(batch.exponential_histograms)
    assert (exponential["Scale"], exponential["ZeroCount"], exponential["PositiveOffset"]) == (
        1, 1, -1,
    )  # fmt: skip
    assert exponential["PositiveBucketCounts"] == [1, 0, 2]
    summary = only_row(batch.summaries)
    assert (summary["Count"], summary["Sum"]) == (10, 12.5)
    assert summary["ValueAtQuantilesQuantile"] == [0.5, 0.99]
    assert summary["ValueAtQuantilesValue"] == [1.0, 3.5]


def test_json_and_protobuf_decode_alike() -> None:
    # protobuf's own JSON mapping reads ids as base64: convert them by hand.
    document = json.loads(METRICS_JSON)
    exemplar = document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"][
        "dataPoints"
    ][0]["exemplars"][0]
    for key in ("traceId", "spanId"):
        exemplar[key] = base64.b64encode(bytes.fromhex(exemplar[key])).decode()
    request = json_format.ParseDict(document, ExportMetricsServiceRequest())
    from_protobuf = decode_metrics_protobuf(request.SerializeToString())
    assert from_protobuf.batch == decode_metrics_json(METRICS_JSON).batch


def metrics_document() -> dict[str, Any]:
    return copy.deepcopy(json.loads(METRICS_JSON))


def metrics_list(document: dict[str, Any]) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    return metrics


@pytest.mark.parametrize(
    ("change", "kept", "message"),
    [
        (
            lambda ms: ms.append({"name": "nothing"}),
            5,
            f"metric 'nothing' has no data of a known type (gauge, sum, histogram, "
            f"exponentialHistogram or summary) in {METRIC}[5]",
        ),
        (
            lambda ms: ms.append({"name": "future", "fancyNewType": {"dataPoints": [{}]}}),
            5,
            "metric 'future' has no data of a known type",
        ),
        (
            lambda ms: ms[1]["gauge"].update(dataPoints=[]),
            4,
            f"gauge.dataPoints of metric 'my.gauge' is empty in {METRIC}[1]",
        ),
        (
            lambda ms: ms[1]["gauge"]["dataPoints"][0].pop("asDouble"),
            4,
            "value: a number data point needs asDouble or asInt "
            f"in {METRIC}[1].gauge.dataPoints[0]",
        ),
        (
            lambda ms: ms[2]["histogram"]["dataPoints"][0].update(explicitBounds=[1]),
            4,
            "bucketCounts must have one count more than explicitBounds has bounds (1), got 3 "
            f"in {METRIC}[2].histogram.dataPoints[0]",
        ),
        (
            lambda ms: ms[0]["sum"]["dataPoints"][0]["exemplars"][0].update(traceId="abcd"),
            4,
            "exemplars[0].traceId must be 16 bytes, got 2 bytes ('abcd') "
            f"in {METRIC}[0].sum.dataPoints[0]",
        ),
    ],
    ids=["no-type", "unknown-type", "no-points", "no-value", "bad-buckets", "short-exemplar-id"],
)
def test_invalid_metrics_and_points_are_left_out_and_named(
    change: Any, kept: int, message: str
) -> None:
    """A metric with nothing to store counts as one rejected point, as a bad point does."""
    document = metrics_document()
    change(metrics_list(document))
    decoded = decode_metrics_json(json.dumps(document))
    assert decoded.rejected == 1
    assert decoded.rejections.first.startswith(message)
    assert len(decoded.batch) == kept  # every other point is kept


def test_rejections_count_points_and_keep_the_rest_of_a_metric() -> None:
    document = metrics_document()
    gauge = metrics_list(document)[1]["gauge"]
    gauge["dataPoints"] = [{"asDouble": 1}, {}, {"asInt": "2"}, {}]
    decoded = decode_metrics_json(json.dumps(document))
    assert decoded.rejected == 2
    assert decoded.batch.gauges.Value == [1.0, 2.0]
    assert decoded.rejections.message("data point") == (
        f"value: a number data point needs asDouble or asInt in {METRIC}[1].gauge.dataPoints[1] "
        "(and 1 more data points rejected)"
    )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            (1, "gauge", "dataPoints", 0, "asDouble"),
            "abc",
            f"Couldn't parse float: abc in {METRIC}[1].gauge.dataPoints[0].asDouble",
        ),
        (
            (2, "histogram", "dataPoints"),
            5,
            f"repeated field dataPoints must be in [] which is 5 in {METRIC}[2].histogram",
        ),
        (
            (0, "sum", "dataPoints", 0, "exemplars", 0, "traceId"),
            "xyz",
            f"traceId must be 32 hex characters, got 'xyz' in {METRIC}[0].sum.dataPoints[0]"
            ".exemplars[0]",
        ),
        ((4, "name"), 5, f"name: expected string or bytes-like object, got 'int' in {METRIC}[4]"),
    ],
    ids=["not-a-number", "not-a-list", "id-not-hex", "name-not-text"],
)
def test_unreadable_json_refuses_the_request_naming_the_path(
    path: tuple[Any, ...], value: object, message: str
) -> None:
    document = metrics_document()
    target: Any = metrics_list(document)
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(OtlpDecodeError) as error:
        decode_metrics_json(json.dumps(document))
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[1]", "request must be a JSON object with resourceMetrics, got [1]"),
        (b'{"resourceMetrics": [', "invalid JSON at line 1 column 22"),
        (b"\xff", "request body is not UTF-8 text"),
    ],
)
def test_not_json_or_not_an_object(payload: bytes, message: str) -> None:
    with pytest.raises(OtlpDecodeError, match=message.replace("[", r"\[")):
        decode_metrics_json(payload)


def test_truncated_protobuf_names_the_message() -> None:
    with pytest.raises(OtlpDecodeError, match="invalid protobuf ExportMetricsServiceRequest"):
        decode_metrics_protobuf(sdk_request().SerializeToString()[:-3])


def test_metric_columns_split_across_tables() -> None:
    batch = decode_metrics_json(METRICS_JSON).batch
    head, tail = batch.split(2)  # tables in order: gauge, sum | histogram, ...
    assert (len(head.gauges), len(head.sums), len(head.histograms)) == (1, 1, 0)
    assert (len(tail), len(tail.summaries)) == (3, 1)
    merged = MetricColumns()
    merged.extend(head)
    merged.extend(tail)
    assert merged == batch
