"""The demo mesh laid out on one machine: ports, mesh.yaml, sidecar configs and commands.

``meshlens up --demo`` writes the mesh first (:func:`write_demo_mesh`: mesh.yaml
and a bootstrap token file per service), starts the control plane on it, then
calls :func:`write_demo_topology` and starts the returned processes in order
(apps, sidecars, load generator)::

    ports = DemoPorts.pick_free()
    mesh_yaml = write_demo_mesh(Path(".meshlens/demo"), ports)
    ...  # control plane on mesh_yaml, its CA in .meshlens/control/ca
    topology = write_demo_topology(Path(".meshlens/demo"), ports, "http://127.0.0.1:4318",
                                   control_url="https://127.0.0.1:15010",
                                   trust_bundle=Path(".meshlens/control/ca/bundle.pem"))
    for process in topology.processes():
        subprocess.Popen(process.argv)

With a control URL the mesh runs on mTLS (``mtls: strict``): every sidecar
bootstraps its identity, and since a plaintext client cannot reach a strict
inbound port, the load generator enters through an ``ingress`` sidecar of its
own (telemetry off, so the frontend's SERVER span stays each trace's root).
Without one, the sidecars run in plaintext and the load goes straight to the
frontend's inbound port.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICES = ("frontend", "catalog", "inventory")
INGRESS = "ingress"  # the load generator's sidecar: its way into an mTLS mesh
NAMESPACE = "demo"
TRUST_DOMAIN = "cluster.local"
_CALLS = {"frontend": "catalog", "catalog": "inventory", INGRESS: "frontend"}


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
    ingress: ServicePorts  # no app behind it: its app port stays unused

    def of(self, service: str) -> ServicePorts:
        ports: ServicePorts = getattr(self, service)
        return ports

    @classmethod
    def pick_free(cls, host: str = "127.0.0.1") -> DemoPorts:
        """Ports the OS says are free now (another process may take one before use)."""
        sockets = []
        try:
            for _ in range(4 * (len(SERVICES) + 1)):
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
    entry_url: str = ""  # where the load goes (Host: frontend): ingress outbound, or frontend_url
    mesh_path: Path | None = None  # mesh.yaml, when the mesh runs on mTLS

    def processes(self) -> tuple[DemoProcess, ...]:
        """Everything, in a start order that needs no retries: apps, sidecars, load."""
        return (*self.apps, *self.sidecars, self.loadgen)


def sidecar_config(service: str, ports: DemoPorts, otlp_endpoint: str,
                   host: str = "127.0.0.1") -> dict[str, Any]:
    """The sidecar YAML content for one demo service (a mapping)."""
    own = ports.of(service)
    config: dict[str, Any] = {
        "service": service, "version": "v1", "namespace": NAMESPACE,
        "inbound_port": own.inbound, "outbound_port": own.outbound, "admin_port": own.admin,
        "app_host": host, "app_port": own.app, "bind_host": host,
        "otlp_endpoint": otlp_endpoint, "telemetry": service != INGRESS, "routes": [],
    }
    callee = _CALLS.get(service)
    if callee is not None:
        config["routes"].append({"host": callee, "service": callee,
                                 "endpoints": [f"{host}:{ports.of(callee).inbound}"]})
    return config


def demo_mesh(ports: DemoPorts, token_dir: str = "tokens",
              host: str = "127.0.0.1") -> dict[str, Any]:
    """The demo's mesh.yaml content: four services in namespace ``demo`` on strict mTLS,
    allowed by default, and one deny policy that the demo traffic never meets."""
    return {
        "trust_domain": TRUST_DOMAIN,
        "mtls": "strict",
        "default_policy": "allow",
        "services": [
            {"name": service, "namespace": NAMESPACE,
             "bootstrap_token_file": f"{token_dir}/{service}.token",
             "versions": [{"name": "v1", "endpoints": [f"{host}:{ports.of(service).inbound}"]}]}
            for service in (*SERVICES, INGRESS)],
        "policies": [
            {"name": "edge-enters-through-frontend", "action": "deny",
             "sources": [INGRESS], "destinations": ["catalog", "inventory"]},
        ],
    }


def write_demo_mesh(base_dir: Path, ports: DemoPorts, host: str = "127.0.0.1") -> Path:
    """Write ``<base_dir>/mesh.yaml`` and ``<base_dir>/tokens/<service>.token`` (0600,
    kept when already there); returns the mesh.yaml path."""
    tokens = base_dir / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    os.chmod(tokens, 0o700)
    for service in (*SERVICES, INGRESS):
        path = token_path(base_dir, service)
        if path.exists() and path.read_text(encoding="utf-8").strip():
            os.chmod(path, 0o600)
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    mesh_path = base_dir / "mesh.yaml"
    mesh_path.write_text(
        "# The demo mesh, written by `meshlens up --demo` (ports change every run).\n"
        + yaml.safe_dump(demo_mesh(ports, host=host), sort_keys=False), encoding="utf-8")
    return mesh_path


def token_path(base_dir: Path, service: str) -> Path:
    return base_dir / "tokens" / f"{service}.token"


def write_demo_topology(base_dir: Path, ports: DemoPorts, otlp_endpoint: str, *,
                        python: str = sys.executable,
                        sidecar_command: Sequence[str] | None = None,
                        loadgen_rate: float = 5.0, host: str = "127.0.0.1",
                        control_url: str | None = None,
                        trust_bundle: Path | None = None) -> DemoTopology:
    """Write ``<base_dir>/<service>-sidecar.yaml`` for each service and return the commands.

    ``sidecar_command`` is the argv before ``--config PATH``; the default is
    ``[python, -m, meshlens, proxy]``; ``[python, -m, proxy]`` runs the sidecar
    without the CLI. With ``control_url`` (and the control plane's ``trust_bundle``)
    the mesh runs on mTLS: mesh.yaml and the tokens are written too (see
    :func:`write_demo_mesh`), each sidecar bootstraps its identity from the control
    plane, and the load enters through the ``ingress`` sidecar.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    prefix = list(sidecar_command or [python, "-m", "meshlens", "proxy"])
    mtls = control_url is not None
    if mtls and trust_bundle is None:
        raise ValueError("control_url needs trust_bundle")
    mesh_path = write_demo_mesh(base_dir, ports, host) if mtls else None
    paths: dict[str, Path] = {}
    apps, sidecars = [], []
    for service in (*SERVICES, INGRESS) if mtls else SERVICES:
        own = ports.of(service)
        path = base_dir / f"{service}-sidecar.yaml"
        path.write_text(yaml.safe_dump(sidecar_config(service, ports, otlp_endpoint, host),
                                       sort_keys=False), encoding="utf-8")
        argv = [*prefix, "--config", str(path)]
        if mtls:
            argv += ["--control-url", str(control_url), "--trust-domain", TRUST_DOMAIN,
                     "--bootstrap-token-file", str(token_path(base_dir, service)),
                     "--trust-bundle", str(trust_bundle)]
        sidecars.append(DemoProcess(f"{service}-sidecar", argv))
        if service == INGRESS:
            continue
        paths[service] = path
        apps.append(DemoProcess(f"{service}-app", [
            python, "-m", "demo.app", "--service", service, "--port", str(own.app),
            "--outbound", f"http://{host}:{own.outbound}", "--otlp-endpoint", otlp_endpoint,
        ]))
    frontend_url = f"http://{host}:{ports.frontend.inbound}/"
    entry_url = f"http://{host}:{ports.ingress.outbound}/" if mtls else frontend_url
    loadgen = DemoProcess("loadgen", [python, "-m", "demo.loadgen", "--url", entry_url,
                                      "--rate", str(loadgen_rate)])
    return DemoTopology(
        config_paths=paths, apps=tuple(apps), sidecars=tuple(reversed(sidecars)),
        loadgen=loadgen, frontend_url=frontend_url,
        admin_urls={s: f"http://{host}:{ports.of(s).admin}"
                    for s in ((*SERVICES, INGRESS) if mtls else SERVICES)},
        entry_url=entry_url, mesh_path=mesh_path,
    )
