"""Sidecar configuration: typed, frozen, validated with every error at once.

A YAML file such as::

    service: catalog
    version: v1
    app_port: 8080
    routes:
      - host: inventory
        endpoints: ["127.0.0.1:25006"]

becomes a :class:`SidecarConfig`. Problems are collected with their key path
and, read from a file, their line
(``sidecar.yaml:9: routes[1].endpoints[0]: expected host:port, got 'abc'``) and
raised together as one :class:`ConfigError`. Routes (matching, version splits)
are described in :mod:`proxy.routing.route_config`, destinations (endpoints,
labels, load balancing, health checks, outlier detection) in
:mod:`proxy.routing.destination_config`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from proxy.config_errors import ConfigError, ConfigProblems, yaml_key_lines
from proxy.routing.destination_config import DestinationConfig, Endpoint, parse_endpoint
from proxy.routing.route_config import Route
from proxy.routing.traffic_config import parse_traffic, resolve_destinations

__all__ = [
    "ConfigError",
    "DestinationConfig",
    "Endpoint",
    "Route",
    "SidecarConfig",
    "load_sidecar_config",
    "parse_endpoint",
]
DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_MAX_REQUEST_BODY = 1024 * 1024 * 1024
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_HOST = re.compile(r"^[A-Za-z0-9_.-]+$|^\[[0-9A-Fa-f:.]+\]$")


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
    # requests with a larger body get 413 (checked as it streams, never buffered)
    max_request_body_bytes: int = DEFAULT_MAX_REQUEST_BODY
    routes: tuple[Route, ...] = field(default=())
    destinations: tuple[DestinationConfig, ...] = field(default=())

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<config>",
                     lines: Mapping[str, int] | None = None) -> SidecarConfig:
        """Validate ``data`` (parsed YAML/JSON) and build the config, or raise ConfigError.

        ``lines`` (key path to line, see :func:`yaml_key_lines`) puts line numbers
        into the messages.
        """
        errors = ConfigProblems(source, lines)
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
            "max_request_body_bytes": _positive_int(data, "max_request_body_bytes", errors,
                                                    DEFAULT_MAX_REQUEST_BODY),
        }
        values["routes"], values["destinations"] = parse_traffic(
            data.get("routes", []), data.get("destinations", []), errors.add)
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
        out["routes"] = [r.to_dict() for r in self.routes]
        out["destinations"] = [d.to_dict() for d in self.destinations]
        return out

    def destinations_by_service(self) -> dict[str, DestinationConfig]:
        """Every destination, the routes' own ``endpoints`` lists included."""
        return resolve_destinations(self.routes, self.destinations)


def load_sidecar_config(path: str | Path) -> SidecarConfig:
    """Read and validate a sidecar YAML file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
        lines = yaml_key_lines(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML: {exc}"]) from exc
    return SidecarConfig.from_mapping(data if data is not None else {}, source=str(path),
                                      lines=lines)


_MISSING = object()


def _get(data: Mapping[str, Any], key: str, errors: ConfigProblems, required: bool) -> Any:
    value = data.get(key, _MISSING)
    if value is _MISSING and required:
        errors.add(key, "required")
    return value


def _text(data: Mapping[str, Any], key: str, errors: ConfigProblems, *, required: bool = False,
          default: str = "") -> str:
    value = _get(data, key, errors, required)
    if value is _MISSING:
        return default
    if not isinstance(value, str) or not value.strip():
        errors.add(key, f"expected a non-empty string, got {value!r}")
        return default
    return value


def _name(data: Mapping[str, Any], key: str, errors: ConfigProblems, *, required: bool = False,
          default: str = "") -> str:
    value = _text(data, key, errors, required=required, default=default)
    if value and value != default and not _NAME.match(value):
        errors.add(key, f"expected a lowercase DNS name, got {value!r}")
    return value


def _host(data: Mapping[str, Any], key: str, errors: ConfigProblems) -> str:
    value = _text(data, key, errors, default="127.0.0.1")
    if not _HOST.match(value):
        errors.add(key, f"expected a host name or address, got {value!r}")
    return value


def _url(data: Mapping[str, Any], key: str, errors: ConfigProblems) -> str:
    value = _text(data, key, errors, default=DEFAULT_OTLP_ENDPOINT)
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
        errors.add(key, f"expected an http(s):// URL, got {value!r}")
    return value.rstrip("/")


def _positive_int(data: Mapping[str, Any], key: str, errors: ConfigProblems,
                  default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors.add(key, f"must be a positive integer, got {value!r}")
        return default
    return value


def _bool(data: Mapping[str, Any], key: str, errors: ConfigProblems, *, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        errors.add(key, f"expected true or false, got {value!r}")
        return default
    return value


def _port(data: Mapping[str, Any], key: str, errors: ConfigProblems, *, required: bool = False,
          default: int = 0, allow_zero: bool = True) -> int:
    value = _get(data, key, errors, required)
    if value is _MISSING:
        return default
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        errors.add(key, f"expected a port {low}..65535, got {value!r}")
        return default
    return value
