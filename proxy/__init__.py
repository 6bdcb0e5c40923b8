"""MeshLens data plane: the HTTP/1.1 sidecar proxy."""

from proxy.config import ConfigError, Endpoint, Route, SidecarConfig, load_sidecar_config
from proxy.sidecar import Sidecar, run_sidecar, serve
from proxy.telemetry import Telemetry
from proxy.trace_context import TraceParent, format_traceparent, parse_traceparent

__all__ = [
    "ConfigError",
    "Endpoint",
    "Route",
    "Sidecar",
    "SidecarConfig",
    "Telemetry",
    "TraceParent",
    "format_traceparent",
    "load_sidecar_config",
    "parse_traceparent",
    "run_sidecar",
    "serve",
]
