"""Partial success: decoders keep the valid items of a request and count the rest.

OTLP lets a receiver accept part of a request: it answers success with
`partial_success` {rejected_<items>, error_message}. A decoder therefore tells two
kinds of trouble apart:
- the request cannot be read (not protobuf, not JSON, a field of the wrong
  type, an id that is not hex): `OtlpDecodeError`, the whole request is refused (400);
- one item is invalid (an id of the wrong length, an unknown enum value, a metric
  with no data points): `InvalidItem`, that item is left out and counted in
  `Rejections`, whose message names the first bad item's field path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from collector.translate.errors import OtlpDecodeError, shorten

B = TypeVar("B")


class InvalidItem(OtlpDecodeError):
    """One item (span, data point, log record) is invalid; the rest may be kept."""


@dataclass(slots=True)
class Rejections:
    count: int = 0
    first: str = ""  # what is wrong with the first rejected item, and where

    def add(self, message: str, items: int = 1) -> None:
        if not self.first:
            self.first = message
        self.count += items

    def message(self, item: str) -> str:
        """`error_message` of the partial success: the first problem, and how many in all."""
        if self.count <= 1:
            return self.first
        return f"{self.first} (and {self.count - 1} more {item}s rejected)"


@dataclass(slots=True)
class Decoded(Generic[B]):
    """What a request decoded to: the valid items, and the rejected ones."""

    batch: B
    rejections: Rejections

    @property
    def rejected(self) -> int:
        return self.rejections.count


def strict(decoded: Decoded[B]) -> B:
    """The batch, or the first rejection raised: for callers that take all or nothing."""
    if decoded.rejections.count:
        raise OtlpDecodeError(decoded.rejections.first)
    return decoded.batch


def id_problem(field: str, value: bytes, size: int, where: str) -> str:
    """What is wrong with a trace or span id of `size` bytes, or "" when nothing is."""
    if len(value) != size:
        return (
            f"{field} must be {size} bytes, got {len(value)} bytes "
            f"({shorten(value.hex())}) in {where}"
        )
    if value == bytes(size):
        return f"{field} must not be all zeros in {where}"
    return ""


def optional_id_problem(field: str, value: bytes, size: int, where: str) -> str:
    """As `id_problem`, for ids that may be absent (empty): a log's trace context."""
    return id_problem(field, value, size, where) if value else ""
