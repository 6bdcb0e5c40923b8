from __future__ import annotations

import pytest

from proxy.trace_context import (
    TraceParent,
    clean_tracestate,
    format_traceparent,
    parse_traceparent,
)

VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_parse_valid_header() -> None:
    parsed = parse_traceparent(VALID)
    assert parsed == TraceParent(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, 1, 0)
    assert parsed.sampled and parsed.trace_id_hex == VALID[3:35]
    assert parse_traceparent(VALID.encode()) == parsed
    assert parse_traceparent(f" {VALID}\t") == parsed


def test_format_round_trips() -> None:
    parsed = parse_traceparent(VALID)
    assert parsed is not None
    assert format_traceparent(parsed.trace_id, parsed.span_id, parsed.flags) == VALID
    assert format_traceparent(1, 2, 0) == f"00-{1:032x}-{2:016x}-00"


def test_future_version_may_carry_more_fields() -> None:
    parsed = parse_traceparent("cc" + VALID[2:] + "-what-the-future-holds")
    assert parsed is not None and parsed.version == 0xCC


@pytest.mark.parametrize("value", [
    None,
    "",
    "garbage",
    VALID.upper(),                                          # uppercase hex
    "ff" + VALID[2:],                                       # version ff is invalid
    VALID + "-extra",                                       # version 00 has 4 fields
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # zero span id
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",   # short span id
    "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # wrong separator
    "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",  # not hex
    "cc" + VALID[2:] + "x",                                 # future version, no dash
    b"\xff" * 55,
])
def test_invalid_headers_are_ignored(value: str | bytes | None) -> None:
    assert parse_traceparent(value) is None


def test_tracestate_is_passed_on_within_limits() -> None:
    assert clean_tracestate(b"congo=t61rcWkgMzE, rojo=00f067aa0ba902b7") == \
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    assert clean_tracestate(None) is None
    assert clean_tracestate(",".join(f"k{i}=v" for i in range(33))) is None
    assert clean_tracestate("novalue") is None
    assert clean_tracestate("a=" + "x" * 600) is None


# B3


def test_b3_single_parses_ids_and_sampling() -> None:
    from proxy.trace_context import parse_b3_single

    parsed = parse_b3_single(
        b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")
    assert parsed is not None
    assert parsed.trace_id_hex == "80f198ee56343ba864fe8b2a57d3eff7"
    assert parsed.span_id_hex == "e457b5a2e4d86bd1" and parsed.sampled
    unsampled = parse_b3_single("80f198ee56343ba8-e457b5a2e4d86bd1-0")
    assert unsampled is not None and not unsampled.sampled
    assert unsampled.trace_id == 0x80F198EE56343BA8
    for bad in ("0", "xyz-e457b5a2e4d86bd1", "80f198ee56343ba8-e457b5a2", "a-b-c-d-e",
                "80f198ee56343ba8-e457b5a2e4d86bd1-x", "0000000000000000-e457b5a2e4d86bd1"):
        assert parse_b3_single(bad) is None, bad


def test_b3_multi_and_debug_flag() -> None:
    from proxy.trace_context import parse_b3_multi

    parsed = parse_b3_multi({b"x-b3-traceid": b"463ac35c9f6413ad", b"x-b3-spanid":
                             b"a2fb4a1d1a96d312", b"x-b3-sampled": b"0", b"x-b3-flags": b"1"})
    assert parsed is not None and parsed.sampled  # debug implies sampled
    assert parse_b3_multi({b"x-b3-traceid": b"463ac35c9f6413ad"}) is None


def test_extract_prefers_a_valid_traceparent_and_falls_back_to_b3() -> None:
    from proxy.trace_context import extract

    w3c = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    b3 = b"463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-1"
    both = extract([(b"b3", b3), (b"Traceparent", w3c)])
    assert both.parent is not None and both.parent.span_id == 0xB7AD6B7169203331
    assert both.b3 == "single"
    fallback = extract([(b"traceparent", b"garbage"), (b"B3", b3)])
    assert fallback.parent is not None and fallback.parent.span_id == 0xA2FB4A1D1A96D312
    assert extract([]).parent is None and extract([]).b3 is None


def test_drawn_ids_are_lowercase_hex_random_and_distinct() -> None:
    from proxy.trace_context import IDS_PER_DRAW, draw_ids

    ids = draw_ids() + draw_ids()
    assert len(ids) == 2 * IDS_PER_DRAW
    traces, spans = {t for t, _ in ids}, {s for _, s in ids}
    assert len(traces) == len(spans) == len(ids)  # 2^-100 odds of a false alarm
    for trace_hex, span_hex in ids:
        assert len(trace_hex) == 32 and len(span_hex) == 16
        assert set(trace_hex + span_hex) <= set(b"0123456789abcdef")
        assert int(trace_hex, 16) and int(span_hex, 16)


def test_extract_keeps_the_callers_ids_in_hex() -> None:
    from proxy.trace_context import extract

    w3c = extract([(b"host", b"a"), (b"traceparent", f" {VALID} ".encode())])
    assert (w3c.trace_hex, w3c.span_hex, w3c.flags) == (
        b"0af7651916cd43dd8448eb211c80319c", b"b7ad6b7169203331", 1)
    later = extract([(b"traceparent", b"cc" + VALID[2:-2].encode() + b"00-more")])
    assert later.span_hex == b"b7ad6b7169203331" and later.flags == 0
    b3 = extract([(b"b3", b"463ac35c9f6413ad-a2fb4a1d1a96d312-0")])  # a 64-bit trace id
    assert (b3.trace_hex, b3.span_hex, b3.flags) == (
        b"0000000000000000463ac35c9f6413ad", b"a2fb4a1d1a96d312", 0)
    assert extract([(b"traceparent", VALID.upper().encode())]).trace_hex == b""


def test_extract_carries_tracestate_only_with_a_valid_traceparent() -> None:
    from proxy.trace_context import NO_CONTEXT, extract

    carried = extract([(b"tracestate", b"a=1 , b=2"), (b"traceparent", VALID.encode()),
                       (b"traceparent", b"garbage"), (b"tracestate", b"c=3")])
    assert (carried.span_hex, carried.flags, carried.tracestate, carried.b3) == (
        b"b7ad6b7169203331", 1, "a=1,b=2", None)
    assert extract([(b"traceparent", b"garbage"), (b"tracestate", b"a=1")]) == NO_CONTEXT
    assert extract([(b"tracestate", b"a=1")]) == NO_CONTEXT
    multi = extract([(b"traceparent", VALID.encode()), (b"x-b3-sampled", b"1")])
    assert (multi.span_hex, multi.b3) == (b"b7ad6b7169203331", "multi")
