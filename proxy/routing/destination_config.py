"""Destination config: a service's endpoints (with labels), balancer and health.

::

    destinations:
      - service: catalog
        identity: spiffe://cluster.local/ns/shop/sa/catalog   # what its endpoints present
        lb: ewma                      # round_robin | least_request | ewma
        endpoints:
          - 127.0.0.1:25006           # no labels
          - {address: 127.0.0.1:25016, labels: {version: v2}}
        health_check: {path: /healthz, interval: 5s, timeout: 1s,
                       healthy_threshold: 2, unhealthy_threshold: 3}
        outlier_detection: {consecutive_5xx: 5, consecutive_connect_failures: 5,
                            base_ejection_time: 30s, max_ejection_time: 300s,
                            max_ejection_percent: 10}

``identity`` is the SPIFFE ID the endpoints must present over mTLS (the control
plane fills it in from mesh.yaml); an identity sidecar checks it on every new
upstream connection and, when it is not given, expects
``spiffe://<its trust domain>/ns/<its namespace>/sa/<service>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.config_errors import AddProblem
from proxy.config_fields import MISSING, Fields

LB_POLICIES = ("round_robin", "least_request", "ewma")
_HOST = re.compile(r"^[A-Za-z0-9_.-]+$|^\[[0-9A-Fa-f:.]+\]$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_SPIFFE_ID = re.compile(r"^spiffe://[a-z0-9.-]+(/[A-Za-z0-9._-]+)+$")


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


@dataclass(frozen=True, slots=True)
class LabeledEndpoint:
    address: Endpoint
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def version(self) -> str | None:
        return dict(self.labels).get("version")


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheckConfig:
    path: str = "/healthz"
    interval: float = 5.0
    timeout: float = 1.0
    healthy_threshold: int = 2
    unhealthy_threshold: int = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlierDetectionConfig:
    consecutive_5xx: int = 5
    consecutive_connect_failures: int = 5
    base_ejection_time: float = 30.0  # times the number of ejections so far
    max_ejection_time: float = 300.0
    max_ejection_percent: int = 10  # at least one endpoint may always be ejected


@dataclass(frozen=True, slots=True, kw_only=True)
class DestinationConfig:
    service: str
    endpoints: tuple[LabeledEndpoint, ...]
    lb: str = "round_robin"
    health_check: HealthCheckConfig | None = None
    outlier_detection: OutlierDetectionConfig | None = None
    identity: str | None = None  # SPIFFE ID its endpoints present over mTLS

    def versions(self) -> set[str]:
        return {v for e in self.endpoints if (v := e.version) is not None}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service": self.service, "lb": self.lb, "endpoints": [
            {"address": str(e.address), "labels": dict(e.labels)} if e.labels
            else str(e.address) for e in self.endpoints]}
        if self.identity is not None:
            out["identity"] = self.identity
        for key in ("health_check", "outlier_detection"):
            block = getattr(self, key)
            if block is not None:
                out[key] = {f: getattr(block, f) for f in block.__dataclass_fields__}
        return out


def parse_destination(item: Any, where: str, add: AddProblem) -> DestinationConfig | None:
    fields = Fields(item, where, add, ("service", "identity", "lb", "endpoints",
                                       "health_check", "outlier_detection"))
    if not fields.ok:
        return None
    service = fields.text("service")
    identity: str | None = None
    if fields.get("identity") is not MISSING:
        identity = fields.text("identity")
        if identity is not None and not _SPIFFE_ID.match(identity):
            add(fields.path("identity"), f"expected a SPIFFE ID like "
                f"spiffe://cluster.local/ns/default/sa/{service or 'catalog'}, got {identity!r}")
            identity = None
    endpoints = parse_endpoints(fields.require("endpoints"), fields.path("endpoints"), add)
    health: HealthCheckConfig | None = None
    if (block := fields.get("health_check")) is not MISSING:
        health = _health_check(Fields(block, fields.path("health_check"), add,
                                      HealthCheckConfig.__dataclass_fields__))
    outliers: OutlierDetectionConfig | None = None
    if (block := fields.get("outlier_detection")) is not MISSING:
        outliers = _outlier_detection(Fields(block, fields.path("outlier_detection"), add,
                                             OutlierDetectionConfig.__dataclass_fields__))
    return DestinationConfig(service=(service or "").lower(), endpoints=endpoints,
                             lb=fields.choice("lb", "round_robin", LB_POLICIES),
                             health_check=health, outlier_detection=outliers,
                             identity=identity)


def parse_endpoints(value: Any, where: str, add: AddProblem) -> tuple[LabeledEndpoint, ...]:
    """A non-empty list of ``host:port`` strings or ``{address, labels}`` mappings."""
    if value is MISSING:
        return ()
    if not isinstance(value, list) or not value:
        add(where, f"expected a non-empty list, got {value!r}")
        return ()
    out: list[LabeledEndpoint] = []
    for j, item in enumerate(value):
        here = f"{where}[{j}]"
        labels: tuple[tuple[str, str], ...] = ()
        if isinstance(item, Mapping):
            fields = Fields(item, here, add, ("address", "labels"))
            labels = _labels(fields.get("labels", {}), fields.path("labels"), add)
            here, item = fields.path("address"), fields.require("address")
            if item is MISSING:
                continue
        endpoint = parse_endpoint(item) if isinstance(item, str) else None
        if endpoint is None:
            add(here, f"expected host:port, got {item!r}")
            continue
        if any(e.address == endpoint for e in out):
            add(here, f"duplicate endpoint {item}")
            continue
        out.append(LabeledEndpoint(endpoint, labels))
    return tuple(out)


def _labels(value: Any, where: str, add: AddProblem) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        add(where, f"expected a mapping of label to value, got {value!r}")
        return ()
    labels: list[tuple[str, str]] = []
    for key, text in value.items():
        if not isinstance(key, str) or not _LABEL.match(key):
            add(f"{where}.{key}", "expected a label name (letters, digits, '-', '_', '.')")
        elif not isinstance(text, str) or not _LABEL.match(text):
            add(f"{where}.{key}", f"expected a label value, got {text!r}")
        else:
            labels.append((key, text))
    return tuple(sorted(labels))


def _health_check(fields: Fields) -> HealthCheckConfig:
    defaults = HealthCheckConfig()
    path = fields.text("path", defaults.path) or defaults.path
    if not path.startswith("/"):
        fields.add(fields.path("path"), f"must start with '/', got {path!r}")
    config = HealthCheckConfig(
        path=path,
        interval=fields.duration("interval", defaults.interval),
        timeout=fields.duration("timeout", defaults.timeout),
        healthy_threshold=fields.integer("healthy_threshold", defaults.healthy_threshold, 1, 100),
        unhealthy_threshold=fields.integer("unhealthy_threshold", defaults.unhealthy_threshold,
                                           1, 100),
    )
    if config.timeout > config.interval:
        fields.add(fields.path("timeout"), f"must not exceed interval ({config.interval:g}s),"
                                           f" got {config.timeout:g}s")
    return config


def _outlier_detection(fields: Fields) -> OutlierDetectionConfig:
    d = OutlierDetectionConfig()
    config = OutlierDetectionConfig(
        consecutive_5xx=fields.integer("consecutive_5xx", d.consecutive_5xx, 1, 1000),
        consecutive_connect_failures=fields.integer(
            "consecutive_connect_failures", d.consecutive_connect_failures, 1, 1000),
        base_ejection_time=fields.duration("base_ejection_time", d.base_ejection_time),
        max_ejection_time=fields.duration("max_ejection_time", d.max_ejection_time),
        max_ejection_percent=fields.integer("max_ejection_percent", d.max_ejection_percent,
                                            0, 100),
    )
    if config.max_ejection_time < config.base_ejection_time:
        fields.add(fields.path("max_ejection_time"),
                   f"must be at least base_ejection_time ({config.base_ejection_time:g}s)")
    return config
