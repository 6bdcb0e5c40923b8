"""The one error a decoder raises: what is wrong with a payload, and where."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

M = TypeVar("M", bound=Message)


class OtlpDecodeError(ValueError):
    """A payload is not valid OTLP; the message names the field and its path.

    Receivers pass the message to the client as it is (HTTP 400, gRPC
    INVALID_ARGUMENT), so it must say what to fix, e.g. ``traceId must be 32 hex
    characters, got 'xyz' in resourceSpans[0].scopeSpans[0].spans[2]``.
    """


def span_path(resource_index: int, scope_index: int, span_index: int) -> str:
    return f"resourceSpans[{resource_index}].scopeSpans[{scope_index}].spans[{span_index}]"


def shorten(value: object, limit: int = 60) -> str:
    """`repr` of a rejected value, cut so an error message stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_protobuf(message: M, payload: bytes) -> M:
    """Fill `message` (an empty Export*ServiceRequest) from `payload`, or say why not."""
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise OtlpDecodeError(
            f"invalid protobuf {type(message).__name__} ({len(payload)} bytes, "
            f"truncated or not OTLP): {exc}"
        ) from None
    return message
