"""Sidecar configuration: typed, frozen, validated with every error at once.

A YAML file such as::

    service: catalog
    version: v1
    app_port: 8080
    routes:
      - host: inventory
        endpoints: ["127.0.0.1:25006"]

becomes a :class:`SidecarConfig`. Problems are collected with their key path
(``sidecar.yaml: routes[1].endpoints[0]: expected host:port, got 'abc'``) and
raised together as one :class:`ConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_HOST = re.compile(r"^[A-Za-z0-9_.-]+$|^\[[0-9A-Fa-f:.]+\]$")


class ConfigError(ValueError):
    """Every problem found in one config source, one per line."""

    def __init__(self, errors: list[str] | tuple[str, ...]) -> None:
        self.errors = tuple(errors)
        super().__init__("invalid sidecar config:\n  " + "\n  ".join(self.errors))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One upstream address; ``host`` keeps IPv6 brackets off."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint | None:
    """``host:port`` or ``[v6]:port`` to an :class:`Endpoint`, None when invalid."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not _HOST.match(host):
        return None
    port = int(port_text)
    if not 0 < port < 65536:
        return None
    return Endpoint(host.strip("[]"), port)


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Requests whose Host (without port) is ``host`` go to ``service``'s endpoints."""

    host: str
    service: str
    endpoints: tuple[str, ...]

    def parsed_endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for e in map(parse_endpoint, self.endpoints) if e is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SidecarConfig:
    service: str
    version: str
    namespace: str = "default"
    inbound_port: int = 15006
    outbound_port: int = 15001
    admin_port: int = 15000
    app_host: str = "127.0.0.1"
    app_port: int
    bind_host: str = "127.0.0.1"
    otlp_endpoint: str = DEFAULT_OTLP_ENDPOINT
    telemetry: bool = True
    routes: tuple[Route, ...] = field(default=())

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<config>") -> SidecarConfig:
        """Validate ``data`` (parsed YAML/JSON) and build the config, or raise ConfigError."""
        errors = _Errors(source)
        if not isinstance(data, Mapping):
            errors.add("", f"expected a mapping at the top level, got {type(data).__name__}")
            raise ConfigError(errors.items)
        known = {f for f in cls.__dataclass_fields__}
        for key in data:
            if key not in known:
                errors.add(str(key), "unknown key")
        values: dict[str, Any] = {
            "service": _name(data, "service", errors, required=True),
            "version": _text(data, "version", errors, required=True),
            "namespace": _name(data, "namespace", errors, default="default"),
            "app_host": _host(data, "app_host", errors),
            "bind_host": _host(data, "bind_host", errors),
            "otlp_endpoint": _url(data, "otlp_endpoint", errors),
            "telemetry": _bool(data, "telemetry", errors, default=True),
            "app_port": _port(data, "app_port", errors, required=True, allow_zero=False),
            "routes": _routes(data.get("routes", []), errors),
        }
        for key, default in (("inbound_port", 15006), ("outbound_port", 15001),
                             ("admin_port", 15000)):
            values[key] = _port(data, key, errors, default=default)
        listeners = [(k, values[k]) for k in ("inbound_port", "outbound_port", "admin_port")]
        seen: dict[int, str] = {}
        for key, port in listeners:
            if isinstance(port, int) and port:
                if port in seen:
                    errors.add(key, f"port {port} is already used by {seen[port]}")
                seen.setdefault(port, key)
        if errors.items:
            raise ConfigError(errors.items)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: getattr(self, f) for f in self.__dataclass_fields__}
        out["routes"] = [
            {"host": r.host, "service": r.service, "endpoints": list(r.endpoints)}
            for r in self.routes
        ]
        return out


def load_sidecar_config(path: str | Path) -> SidecarConfig:
    """Read and validate a sidecar YAML file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML: {exc}"]) from exc
    return SidecarConfig.from_mapping(data if data is not None else {}, source=str(path))


class _Errors:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, key_path: str, message: str) -> None:
        where = f"{self.source}: {key_path}" if key_path else self.source
        self.items.append(f"{where}: {message}")


_MISSING = object()


def _get(data: Mapping[str, Any], key: str, errors: _Errors, required: bool) -> Any:
    value = data.get(key, _MISSING)
    if value is _MISSING and required:
        errors.add(key, "required")
    return value


def _text(data: Mapping[str, Any], key: str, errors: _Errors, *, required: bool = False,
          default: str = "") -> str:
    value = _get(data, key, errors, required)
    if value is _MISSING:
        return default
    if not isinstance(value, str) or not value.strip():
        errors.add(key, f"expected a non-empty string, got {value!r}")
        return default
    return value


def _name(data: Mapping[str, Any], key: str, errors: _Errors, *, required: bool = False,
          default: str = "") -> str:
    value = _text(data, key, errors, required=required, default=default)
    if value and value != default and not _NAME.match(value):
        errors.add(key, f"expected a lowercase DNS name, got {value!r}")
    return value


def _host(data: Mapping[str, Any], key: str, errors: _Errors) -> str:
    value = _text(data, key, errors, default="127.0.0.1")
    if not _HOST.match(value):
        errors.add(key, f"expected a host name or address, got {value!r}")
    return value


def _url(data: Mapping[str, Any], key: str, errors: _Errors) -> str:
    value = _text(data, key, errors, default=DEFAULT_OTLP_ENDPOINT)
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
        errors.add(key, f"expected an http(s):// URL, got {value!r}")
    return value.rstrip("/")


def _bool(data: Mapping[str, Any], key: str, errors: _Errors, *, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        errors.add(key, f"expected true or false, got {value!r}")
        return default
    return value


def _port(data: Mapping[str, Any], key: str, errors: _Errors, *, required: bool = False,
          default: int = 0, allow_zero: bool = True) -> int:
    value = _get(data, key, errors, required)
    if value is _MISSING:
        return default
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        errors.add(key, f"expected a port {low}..65535, got {value!r}")
        return default
    return value


def _routes(value: Any, errors: _Errors) -> tuple[Route, ...]:
    if not isinstance(value, list):
        errors.add("routes", f"expected a list, got {type(value).__name__}")
        return ()
    routes: list[Route] = []
    hosts: set[str] = set()
    for i, item in enumerate(value):
        where = f"routes[{i}]"
        if not isinstance(item, Mapping):
            errors.add(where, f"expected a mapping, got {item!r}")
            continue
        for key in item:
            if key not in ("host", "service", "endpoints"):
                errors.add(f"{where}.{key}", "unknown key")
        host = item.get("host")
        if not isinstance(host, str) or not _HOST.match(host):
            errors.add(f"{where}.host", f"expected a host name, got {host!r}")
            host = ""
        elif host.lower() in hosts:
            errors.add(f"{where}.host", f"duplicate route for host {host!r}")
        hosts.add(host.lower())
        service = item.get("service", host.lower())
        if not isinstance(service, str) or not _NAME.match(service or "-"):
            errors.add(f"{where}.service", f"expected a lowercase DNS name, got {service!r}")
            service = host
        endpoints = item.get("endpoints")
        if not isinstance(endpoints, list) or not endpoints:
            errors.add(f"{where}.endpoints", f"expected a non-empty list, got {endpoints!r}")
            endpoints = []
        for j, endpoint in enumerate(endpoints):
            if not isinstance(endpoint, str) or parse_endpoint(endpoint) is None:
                errors.add(f"{where}.endpoints[{j}]", f"expected host:port, got {endpoint!r}")
        routes.append(Route(host=host.lower(), service=service,
                            endpoints=tuple(str(e) for e in endpoints)))
    return tuple(routes)
