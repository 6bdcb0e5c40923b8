"""Typed reads of one mapping with every problem collected, each with its line.

A :class:`Checker` carries the file name, the line index and the error list; its
``text``/``name``/``number``... methods read one key, report what is wrong and
return a harmless default so that validation goes on and finds the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from control.mesh_config.located_yaml import KeyPath, LineIndex, format_path

DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
TRUST_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,253}[a-z0-9])?$")
HOST_PORT = re.compile(r"^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$")
MISSING = object()


class Checker:
    def __init__(self, source: str, index: LineIndex) -> None:
        self.source = source
        self.index = index
        self.errors: list[str] = []

    def add(self, path: KeyPath, message: str) -> None:
        where = format_path(path)
        line = self.index.line_of(path)
        self.errors.append(f"{self.source}:{line}: {where + ': ' if where else ''}{message}")

    def mapping(self, value: Any, path: KeyPath, known: frozenset[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.add(path, f"expected a mapping, got {_kind(value)}")
            return {}
        for key in value:
            if str(key) not in known:
                self.add((*path, str(key)),
                         f"unknown key (expected one of {', '.join(sorted(known))})")
        return value

    def items(self, data: Mapping[str, Any], key: str, path: KeyPath) -> list[Any]:
        value = data.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            self.add((*path, key), f"expected a list, got {_kind(value)}")
            return []
        return value

    def text(self, data: Mapping[str, Any], key: str, path: KeyPath, *,
             required: bool = False, default: str = "") -> str:
        value = data.get(key, MISSING)
        if value is MISSING:
            if required:
                self.add((*path, key), "required")
            return default
        if not isinstance(value, str) or not value.strip():
            self.add((*path, key), f"expected a non-empty string, got {value!r}")
            return default
        return value

    def name(self, data: Mapping[str, Any], key: str, path: KeyPath, *,
             required: bool = False, default: str = "") -> str:
        value = self.text(data, key, path, required=required, default=default)
        if value and not DNS_NAME.match(value):
            self.add((*path, key), f"expected a lowercase DNS label, got {value!r}")
        return value

    def choice(self, data: Mapping[str, Any], key: str, path: KeyPath,
               choices: tuple[str, ...], default: str) -> str:
        value = data.get(key, default)
        if value not in choices:
            self.add((*path, key), f"expected one of {', '.join(choices)}, got {value!r}")
            return default
        return str(value)

    def number(self, data: Mapping[str, Any], key: str, path: KeyPath, *,
               low: float, high: float, required: bool = False, default: float = 0.0) -> float:
        value = data.get(key, MISSING)
        if value is MISSING:
            if required:
                self.add((*path, key), "required")
            return default
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or not low <= value <= high:
            self.add((*path, key), f"must be {low:g}..{high:g}, got {value!r}")
            return default
        return float(value)

    def strings(self, data: Mapping[str, Any], key: str, path: KeyPath) -> tuple[str, ...]:
        out: list[str] = []
        for i, item in enumerate(self.items(data, key, path)):
            if not isinstance(item, str) or not item:
                self.add((*path, key, i), f"expected a non-empty string, got {item!r}")
            else:
                out.append(item)
        return tuple(out)

    def endpoints(self, data: Mapping[str, Any], key: str, path: KeyPath) -> tuple[str, ...]:
        out = self.strings(data, key, path)
        for i, endpoint in enumerate(out):
            match = HOST_PORT.match(endpoint)
            if match is None or not 0 < int(match.group(1)) < 65536:
                self.add((*path, key, i), f"expected host:port, got {endpoint!r}")
        return out


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
