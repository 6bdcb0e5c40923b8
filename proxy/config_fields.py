"""Typed reads of one YAML mapping block, each problem reported with its key path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from proxy.config_errors import AddProblem
from proxy.resilience.config import parse_duration

MISSING: Any = object()


class Fields:
    """One mapping at ``where``; unknown keys are reported once, on construction."""

    def __init__(self, data: Any, where: str, add: AddProblem, known: Iterable[str]) -> None:
        self.where, self.add = where, add
        self.ok = isinstance(data, Mapping)
        if not self.ok:
            add(where, f"expected a mapping, got {data!r}")
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        allowed = set(known)
        for key in self.data:
            if key not in allowed:
                add(self.path(str(key)), "unknown key")

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any = MISSING) -> Any:
        return self.data.get(key, default)

    def require(self, key: str) -> Any:
        value = self.data.get(key, MISSING)
        if value is MISSING:
            self.add(self.path(key), "required")
        return value

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.require(key) if default is None else self.data.get(key, default)
        if value is MISSING:
            return None
        if not isinstance(value, str) or not value:
            self.add(self.path(key), f"expected a non-empty string, got {value!r}")
            return default
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(self.path(key), f"must be {low}..{high}, got {value!r}")
            return default
        return value

    def duration(self, key: str, default: float, low: float = 0.0) -> float:
        value = self.data.get(key, MISSING)
        if value is MISSING:
            return default
        seconds = parse_duration(value)
        if seconds is None or seconds <= low:
            self.add(self.path(key), f"expected a duration above {low:g}s like '250ms' or '5s',"
                                     f" got {value!r}")
            return default
        return seconds

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        allowed = tuple(choices)
        value = self.data.get(key, default)
        if value not in allowed:
            self.add(self.path(key), f"must be one of {'|'.join(allowed)}, got {value!r}")
            return default
        return str(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.add(self.path(key), f"expected true or false, got {value!r}")
            return default
        return value
