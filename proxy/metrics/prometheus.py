"""Prometheus text exposition (format 0.0.4) of the proxy's own counters.

Written by hand from :class:`RedSnapshot` rather than with prometheus_client so
that the request path keeps plain integer additions (a client library's labelled
children take a lock and a dict lookup per metric per request); the cost of
formatting is paid by the scraper's request on the admin port.
"""

from __future__ import annotations

from collections.abc import Mapping

from proxy.metrics.red import BUCKETS_MS, LABELS, RedSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "meshlens_proxy"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Mapping[str, str]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(snapshot: RedSnapshot, extra_counters: Mapping[str, tuple[str, int]] = {}) -> str:
    """The whole ``/metrics`` page; ``extra_counters`` maps name to (help, value)."""
    out: list[str] = []
    requests, duration = f"{PREFIX}_requests_total", f"{PREFIX}_request_duration_milliseconds"
    out += [f"# HELP {requests} Requests per hop by caller, callee, route, version and "
            "status class.", f"# TYPE {requests} counter"]
    for series in snapshot.series:
        out.append(f"{requests}{{{_labels(dict(zip(LABELS, series.labels, strict=True)))}}} "
                   f"{series.count}")
    out += [f"# HELP {duration} Time from request head to the end of the response.",
            f"# TYPE {duration} histogram"]
    bounds = [_number(b) for b in BUCKETS_MS] + ["+Inf"]
    for series in snapshot.series:
        label_text = _labels(dict(zip(LABELS, series.labels, strict=True)))
        cumulative = 0
        for bound, count in zip(bounds, series.buckets, strict=True):
            cumulative += count
            out.append(f'{duration}_bucket{{{label_text},le="{bound}"}} {cumulative}')
        out.append(f"{duration}_sum{{{label_text}}} {_number(series.sum_ms)}")
        out.append(f"{duration}_count{{{label_text}}} {series.count}")
    overflow = f"{PREFIX}_red_overflow_total"
    out += [f"# HELP {overflow} Requests counted in an 'other' series because the label "
            f"set cap ({snapshot.max_series}) was reached.", f"# TYPE {overflow} counter",
            f"{overflow} {snapshot.overflowed}"]
    for name, (help_text, value) in extra_counters.items():
        out += [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} counter",
                f"{PREFIX}_{name} {value}"]
    return "\n".join(out) + "\n"


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of an exposition as {(name, labels): value}: for tests and tools.

    Handles what :func:`render` writes (no escaped quotes or commas inside values).
    """
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, label_text = head.partition("{")
        pairs = []
        for item in filter(None, label_text.rstrip("}").split(",")):
            key, _, quoted = item.partition("=")
            pairs.append((key, quoted.strip('"')))
        samples[(name, frozenset(pairs))] = float(value)
    return samples
