"""Error bodies in the shape OTLP asks for: a `google.rpc.Status`, with `RetryInfo`
when the client should come back later. Shared by both receivers."""

from __future__ import annotations

from google.protobuf import any_pb2, duration_pb2, json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2

INVALID_ARGUMENT = code_pb2.INVALID_ARGUMENT
RESOURCE_EXHAUSTED = code_pb2.RESOURCE_EXHAUSTED
UNAVAILABLE = code_pb2.UNAVAILABLE
INTERNAL = code_pb2.INTERNAL

# The metadata key opentelemetry-python's gRPC exporter reads RetryInfo from; the
# standard `grpc-status-details-bin` trailer carries the whole Status as well.
RETRY_INFO_METADATA_KEY = "google.rpc.retryinfo-bin"
STATUS_DETAILS_METADATA_KEY = "grpc-status-details-bin"


def retry_info(retry_after_s: int) -> error_details_pb2.RetryInfo:
    return error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after_s))


def rpc_status(code: int, message: str, retry_after_s: int | None = None) -> status_pb2.Status:
    status = status_pb2.Status(code=code, message=message)
    if retry_after_s is not None:
        detail = any_pb2.Any()
        detail.Pack(retry_info(retry_after_s))
        status.details.append(detail)
    return status


def status_body(
    code: int, message: str, *, as_json: bool, retry_after_s: int | None = None
) -> bytes:
    status = rpc_status(code, message, retry_after_s)
    if as_json:
        return json_format.MessageToJson(status, indent=None).encode()
    return status.SerializeToString()


def retry_trailers(code: int, message: str, retry_after_s: int) -> tuple[tuple[str, bytes], ...]:
    return (
        (RETRY_INFO_METADATA_KEY, retry_info(retry_after_s).SerializeToString()),
        (
            STATUS_DETAILS_METADATA_KEY,
            rpc_status(code, message, retry_after_s).SerializeToString(),
        ),
    )
