"""Per-route resilience blocks: timeout, retry, circuit_breaker, fault, mirror, rate_limit.

Each YAML block becomes a frozen dataclass; a missing block is ``None`` (the
feature is off). :func:`parse_route_policy` reads the blocks from one route
mapping and reports every problem through ``add_error(key_path, message)``, so
the sidecar config collects them with its own. Durations are ``"250ms"``,
``"2s"``, ``"1m"`` or a number of seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

AddError = Callable[[str, str], None]
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_CONDITIONS = frozenset({"connect-failure", "reset", "timeout", "5xx", "gateway-error"})
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0}
_DEFAULT_RETRY_ON = ("connect-failure", "reset", "503")
_BACKOFF_BASE, _BACKOFF_MAX = 0.025, 0.25


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeoutConfig:
    response: float | None = None  # arrival to the response head, across retries -> 504
    total: float | None = None  # the whole exchange, response body included


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryBudgetConfig:
    ratio: float = 0.2  # retries at most this share of requests over the window
    min_per_second: float = 10.0  # always allowed, so a quiet route can still retry
    window: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryConfig:
    attempts: int = 3  # the first try included
    retry_on: tuple[str, ...] = _DEFAULT_RETRY_ON
    per_try_timeout: float | None = None
    backoff_base: float = _BACKOFF_BASE
    backoff_max: float = _BACKOFF_MAX
    budget: RetryBudgetConfig = field(default_factory=RetryBudgetConfig)
    non_idempotent: bool = False  # also retry POST, PATCH, ...
    buffer_bytes: int = 64 * 1024  # bodies longer than this are not retried


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitBreakerConfig:
    max_connections: int | None = None
    max_pending: int | None = None
    max_requests: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    delay: float = 0.0
    delay_percent: float = 0.0
    abort_status: int = 503
    abort_percent: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorConfig:
    host: str  # a route host of the route table: another service, or a version's host
    percent: float = 100.0
    max_concurrent: int = 16
    max_body_bytes: int = 64 * 1024
    timeout: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitConfig:
    rate: float  # tokens per second
    burst: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutePolicy:
    timeout: TimeoutConfig | None = None
    retry: RetryConfig | None = None
    circuit_breaker: CircuitBreakerConfig | None = None
    fault: FaultConfig | None = None
    mirror: MirrorConfig | None = None
    rate_limit: RateLimitConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


POLICY_KEYS = frozenset(RoutePolicy.__dataclass_fields__)


class _Block:
    """Reads one mapping block, recording errors with their key path."""

    def __init__(self, data: Any, where: str, add_error: AddError, known: set[str]) -> None:
        self.where, self.add_error = where, add_error
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        if not isinstance(data, Mapping):
            add_error(where, f"expected a mapping, got {data!r}")
        for key in self.data:
            if key not in known:
                add_error(f"{where}.{key}", "unknown key")

    def error(self, key: str, message: str) -> None:
        self.add_error(f"{self.where}.{key}", message)

    def duration(self, key: str, default: float | None) -> float | None:
        value = self.data.get(key)
        if value is None:
            return default
        seconds = parse_duration(value)
        if seconds is None or seconds <= 0:
            self.error(key, f"expected a positive duration like 250ms or 2s, got {value!r}")
            return default
        return seconds

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not low <= value <= high:
            self.error(key, f"must be {low:g}..{high:g}, got {value!r}")
            return default
        return float(value)

    def integer(self, key: str, default: int | None, low: int, high: int = 1 << 30) -> int | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(key, f"must be an integer {low}..{high}, got {value!r}")
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.error(key, f"expected true or false, got {value!r}")
            return default
        return value

    def block(self, key: str, known: set[str]) -> _Block:
        return _Block(self.data.get(key, {}), f"{self.where}.{key}", self.add_error, known)


def parse_duration(value: Any) -> float | None:
    """``"250ms"``, ``"2s"``, ``"1m"`` or a number of seconds; None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (match := _DURATION.match(value.strip())):
        return float(match.group(1)) * _UNIT[match.group(2)]
    return None


def parse_route_policy(route: Mapping[str, Any], where: str, add_error: AddError) -> RoutePolicy:
    """The resilience blocks of one route mapping (other keys are left to the caller)."""
    parsers: dict[str, Callable[[_Block], Any]] = {
        "timeout": _timeout, "retry": _retry, "circuit_breaker": _circuit_breaker,
        "fault": _fault, "mirror": _mirror, "rate_limit": _rate_limit,
    }
    values = {}
    for key, parse in parsers.items():
        if route.get(key) is not None:
            values[key] = parse(_Block(route[key], f"{where}.{key}", add_error, _KNOWN[key]))
    return RoutePolicy(**values)


_KNOWN: dict[str, set[str]] = {
    "timeout": {"response", "total"},
    "retry": {"attempts", "retry_on", "per_try_timeout", "backoff", "budget", "non_idempotent",
              "buffer_bytes"},
    "circuit_breaker": {"max_connections", "max_pending", "max_requests"},
    "fault": {"delay", "abort"},
    "mirror": {"host", "percent", "max_concurrent", "max_body_bytes", "timeout"},
    "rate_limit": {"rate", "burst"},
}


def _timeout(b: _Block) -> TimeoutConfig:
    config = TimeoutConfig(response=b.duration("response", None), total=b.duration("total", None))
    if config.response and config.total and config.response > config.total:
        b.error("response", "must not be longer than total")
    return config


def _retry(b: _Block) -> RetryConfig:
    retry_on = b.data.get("retry_on", list(_DEFAULT_RETRY_ON))
    conditions: list[str] = []
    if not isinstance(retry_on, list):
        b.error("retry_on", f"expected a list, got {retry_on!r}")
        retry_on = []
    for i, item in enumerate(retry_on):
        text = str(item)
        if text in RETRY_CONDITIONS or (text.isdigit() and 500 <= int(text) <= 599) \
                or (isinstance(item, int) and 400 <= item <= 599):
            conditions.append(text)
        else:
            b.error(f"retry_on[{i}]", f"expected one of {sorted(RETRY_CONDITIONS)} or a "
                    f"status 400..599, got {item!r}")
    backoff = b.block("backoff", {"base", "max"})
    budget = b.block("budget", {"ratio", "min_per_second", "window"})
    base = backoff.duration("base", _BACKOFF_BASE) or _BACKOFF_BASE
    cap = backoff.duration("max", max(base, _BACKOFF_MAX)) or base
    if cap < base:
        backoff.error("max", "must not be shorter than base")
    return RetryConfig(
        attempts=b.integer("attempts", 3, 1, 10) or 3,
        retry_on=tuple(conditions),
        per_try_timeout=b.duration("per_try_timeout", None),
        backoff_base=base, backoff_max=cap,
        budget=RetryBudgetConfig(
            ratio=budget.number("ratio", 0.2, 0.0, 1.0),
            min_per_second=budget.number("min_per_second", 10.0, 0.0, 1e6),
            window=budget.duration("window", 10.0) or 10.0,
        ),
        non_idempotent=b.flag("non_idempotent", False),
        buffer_bytes=b.integer("buffer_bytes", 64 * 1024, 0, 16 * 1024 * 1024) or 0,
    )


def _circuit_breaker(b: _Block) -> CircuitBreakerConfig:
    return CircuitBreakerConfig(max_connections=b.integer("max_connections", None, 1),
                                max_pending=b.integer("max_pending", None, 0),
                                max_requests=b.integer("max_requests", None, 1))


def _fault(b: _Block) -> FaultConfig:
    delay = b.block("delay", {"duration", "percent"})
    abort = b.block("abort", {"status", "percent"})
    if "delay" in b.data and "duration" not in delay.data:
        delay.error("duration", "required")
    return FaultConfig(
        delay=delay.duration("duration", 0.0) or 0.0,
        delay_percent=delay.number("percent", 100.0 if "delay" in b.data else 0.0, 0.0, 100.0),
        abort_status=abort.integer("status", 503, 200, 599) or 503,
        abort_percent=abort.number("percent", 100.0 if "abort" in b.data else 0.0, 0.0, 100.0),
    )


def _mirror(b: _Block) -> MirrorConfig:
    host = b.data.get("host")
    if not isinstance(host, str) or not re.match(r"^[A-Za-z0-9_.-]+$", host):
        b.error("host", f"expected the host of a route, got {host!r}")
        host = ""
    return MirrorConfig(
        host=host.lower(), percent=b.number("percent", 100.0, 0.0, 100.0),
        max_concurrent=b.integer("max_concurrent", 16, 1, 10_000) or 16,
        max_body_bytes=b.integer("max_body_bytes", 64 * 1024, 0, 16 * 1024 * 1024) or 0,
        timeout=b.duration("timeout", 5.0) or 5.0,
    )


def _rate_limit(b: _Block) -> RateLimitConfig:
    for key in ("rate", "burst"):
        if key not in b.data:
            b.error(key, "required")
    rate = b.number("rate", 1.0, 0.001, 1e9)
    return RateLimitConfig(rate=rate, burst=b.integer("burst", max(1, int(rate)), 1) or 1)
