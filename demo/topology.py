"""The demo mesh laid out on one machine: ports, sidecar configs and commands.

``meshlens up --demo`` calls :func:`write_demo_topology` and starts the returned
processes in order (apps, sidecars, load generator)::

    ports = DemoPorts.pick_free()
    topology = write_demo_topology(Path(".meshlens/demo"), ports, "http://127.0.0.1:4318")
    for process in topology.processes():
        subprocess.Popen(process.argv)
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICES = ("frontend", "catalog", "inventory")
_CALLS = {"frontend": "catalog", "catalog": "inventory"}


@dataclass(frozen=True, slots=True)
class ServicePorts:
    app: int
    inbound: int
    outbound: int
    admin: int


@dataclass(frozen=True, slots=True)
class DemoPorts:
    frontend: ServicePorts
    catalog: ServicePorts
    inventory: ServicePorts

    def of(self, service: str) -> ServicePorts:
        ports: ServicePorts = getattr(self, service)
        return ports

    @classmethod
    def pick_free(cls, host: str = "127.0.0.1") -> DemoPorts:
        """Ports the OS says are free now (another process may take one before use)."""
        sockets = []
        try:
            for _ in range(4 * len(SERVICES)):
                sock = socket.socket()
                sock.bind((host, 0))
                sockets.append(sock)
            numbers = [s.getsockname()[1] for s in sockets]
        finally:
            for sock in sockets:
                sock.close()
        groups = [ServicePorts(*numbers[i:i + 4]) for i in range(0, len(numbers), 4)]
        return cls(*groups)


@dataclass(frozen=True, slots=True)
class DemoProcess:
    name: str
    argv: list[str]


@dataclass(frozen=True, slots=True)
class DemoTopology:
    config_paths: dict[str, Path]  # service -> sidecar YAML
    apps: tuple[DemoProcess, ...]
    sidecars: tuple[DemoProcess, ...]
    loadgen: DemoProcess
    frontend_url: str  # the frontend sidecar's inbound listener
    admin_urls: dict[str, str]  # service -> sidecar admin base URL (GET /ready)

    def processes(self) -> tuple[DemoProcess, ...]:
        """Everything, in a start order that needs no retries: apps, sidecars, load."""
        return (*self.apps, *self.sidecars, self.loadgen)


def sidecar_config(service: str, ports: DemoPorts, otlp_endpoint: str,
                   host: str = "127.0.0.1") -> dict[str, Any]:
    """The sidecar YAML content for one demo service (a mapping)."""
    own = ports.of(service)
    config: dict[str, Any] = {
        "service": service, "version": "v1", "namespace": "demo",
        "inbound_port": own.inbound, "outbound_port": own.outbound, "admin_port": own.admin,
        "app_host": host, "app_port": own.app, "bind_host": host,
        "otlp_endpoint": otlp_endpoint, "telemetry": True, "routes": [],
    }
    callee = _CALLS.get(service)
    if callee is not None:
        config["routes"].append({"host": callee, "service": callee,
                                 "endpoints": [f"{host}:{ports.of(callee).inbound}"]})
    return config


def write_demo_topology(base_dir: Path, ports: DemoPorts, otlp_endpoint: str, *,
                        python: str = sys.executable,
                        sidecar_command: Sequence[str] | None = None,
                        loadgen_rate: float = 5.0, host: str = "127.0.0.1") -> DemoTopology:
    """Write ``<base_dir>/<service>-sidecar.yaml`` for each service and return the commands.

    ``sidecar_command`` is the argv before ``--config PATH``; the default is
    ``[python, -m, meshlens, proxy]``; ``[python, -m, proxy]`` runs the sidecar
    without the CLI.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    prefix = list(sidecar_command or [python, "-m", "meshlens", "proxy"])
    paths: dict[str, Path] = {}
    apps, sidecars = [], []
    for service in SERVICES:
        own = ports.of(service)
        path = base_dir / f"{service}-sidecar.yaml"
        path.write_text(yaml.safe_dump(sidecar_config(service, ports, otlp_endpoint, host),
                                       sort_keys=False), encoding="utf-8")
        paths[service] = path
        apps.append(DemoProcess(f"{service}-app", [
            python, "-m", "demo.app", "--service", service, "--port", str(own.app),
            "--outbound", f"http://{host}:{own.outbound}", "--otlp-endpoint", otlp_endpoint,
        ]))
        sidecars.append(DemoProcess(f"{service}-sidecar", [*prefix, "--config", str(path)]))
    frontend_url = f"http://{host}:{ports.frontend.inbound}/"
    loadgen = DemoProcess("loadgen", [python, "-m", "demo.loadgen", "--url", frontend_url,
                                      "--rate", str(loadgen_rate)])
    return DemoTopology(
        config_paths=paths, apps=tuple(apps), sidecars=tuple(reversed(sidecars)),
        loadgen=loadgen, frontend_url=frontend_url,
        admin_urls={s: f"http://{host}:{ports.of(s).admin}" for s in SERVICES},
    )
