"""Bounded gzip decompression of OTLP/HTTP bodies (the gzip bomb guard)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from collector.receivers.otlp_http import gunzip_bounded

MiB = 1024 * 1024


def bomb(mib: int) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MiB)
    return b"".join(deflater.compress(block) for _ in range(mib)) + deflater.flush()


def test_round_trip() -> None:
    assert gunzip_bounded(gzip.compress(b"spans"), 5) == b"spans"


def test_concatenated_members() -> None:
    assert gunzip_bounded(gzip.compress(b"ab") + gzip.compress(b"cd"), 4) == b"abcd"


def test_bomb_is_refused_without_inflating_it() -> None:
    payload = bomb(64)
    tracemalloc.start()
    try:
        with pytest.raises(Exception, match="decompressed request body is larger than 1048576"):
            gunzip_bounded(payload, MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB  # inflating it all would take 64 MiB


def test_limit_applies_across_members() -> None:
    with pytest.raises(Exception, match="larger than 3"):
        gunzip_bounded(gzip.compress(b"ab") + gzip.compress(b"cd"), 3)


@pytest.mark.parametrize(
    ("payload", "message"),
    [(gzip.compress(b"x" * 100)[:-9], "truncated gzip body"), (b"not gzip", "invalid gzip body")],
)
def test_broken_gzip(payload: bytes, message: str) -> None:
    with pytest.raises(Exception, match=message):
        gunzip_bounded(payload, MiB)
