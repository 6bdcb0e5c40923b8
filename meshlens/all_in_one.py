"""`meshlens up`: control plane, collector and UI on one embedded store, in one process.

chdb allows one engine per process, so every component that reads or writes the
embedded store runs here, on one `Store` (the control plane's audit events go to
its `audit_log` table and to `<state-dir>/control/audit.jsonl`). The control
plane keeps its CA and certificate inventory in `<state-dir>/control` too, where
`meshlens certs list` and `meshlens audit` look by default. With `--demo` the demo
services, their sidecars (on mTLS, with identities from this control plane) and
the load generator run as child processes, stopped with this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from collector import (
    ClickHouseExporter,
    Collector,
    CollectorConfig,
    CollectorConfigError,
    SelfMetricsConfig,
    TailSamplingConfig,
    TlsServerConfig,
)
from control.api import ControlPlane, control_plane_from_dir
from control.audit import AuditLog, JsonLinesAuditSink, StoreAuditSink
from control.mesh_config import MeshConfig, MeshConfigError, load_mesh_config
from demo.topology import DemoPorts
from meshlens.child_processes import ChildGroup
from meshlens.demo_runner import prepare_demo_mesh, start_demo
from meshlens.settings import Settings
from storage import Store, TraceSearchQuery, open_store
from ui import UIServer, create_app, serve_ui

FIRST_TRACE_TIMEOUT_S = 60.0
DEFAULT_TRUST_DOMAIN = "cluster.local"


class AllInOne:
    """The all-in-one MeshLens: start() brings every part up, stop() takes it down."""

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool = False,
        collector: bool = True,
        ui: bool = True,
        control: bool = True,
        out: TextIO = sys.stdout,
    ) -> None:
        self.settings = settings
        self._want_demo = demo
        self._want_collector = collector or demo
        self._want_ui = ui
        self._want_control = control or demo
        self._out = out
        self.store: Store | None = None
        self.collector: Collector | None = None
        self.ui: UIServer | None = None
        self.control: ControlPlane | None = None
        self.children = ChildGroup()

    @property
    def control_dir(self) -> Path:
        """The control plane's CA (`ca/`, with `bundle.pem`), `certificates.json` and
        `audit.jsonl`: the default --state-dir of `meshlens certs` and `meshlens audit`."""
        return self.settings.state_dir / "control"

    async def start(self) -> None:
        s = self.settings
        self.store = await asyncio.to_thread(open_store, s.storage)
        demo_ports: DemoPorts | None = None
        mesh_path = s.mesh
        if self._want_demo:
            demo_ports, mesh_path = prepare_demo_mesh(s)
        if self._want_control:
            await self._start_control(mesh_path)
        if self._want_collector:
            # Raises CollectorConfigError naming a bad value or TLS file.
            self.collector = Collector(collector_config(s), ClickHouseExporter(self.store))
            await self.collector.start()
            scheme = "https" if s.otlp_tls_cert_file is not None else "http"
            self._say(f"OTLP/gRPC  {s.host}:{self.collector.grpc_port}")
            self._say(f"OTLP/HTTP  {scheme}://{s.host}:{self.collector.http_port}/v1/traces")
            self._say(f"collector  http://{s.host}:{self.collector.admin_port}/metrics")
        if self._want_ui:
            self.ui = serve_ui(create_app(self.store), s.host, s.ui_port)
            self.ui.start()
            self._say(f"UI         {self.ui_url}")
        if self._want_demo and self.collector is not None:
            endpoint = f"http://127.0.0.1:{self.collector.http_port}"
            assert demo_ports is not None and self.control is not None
            topology = await start_demo(
                self.children,
                s,
                otlp_endpoint=endpoint,
                ports=demo_ports,
                control_url=self.control_url,
                trust_bundle=self.control_dir / "ca" / "bundle.pem",
            )
            logs = s.state_dir / "logs"
            self._say(
                f"demo       {topology.entry_url} (Host: frontend; the ingress sidecar, "
                f"mTLS inside the mesh; logs in {logs})"
            )

    async def _start_control(self, mesh_path: Path | None) -> None:
        assert self.store is not None
        config = (
            load_mesh_config(mesh_path)  # raises MeshConfigError naming every problem
            if mesh_path is not None
            else MeshConfig(trust_domain=DEFAULT_TRUST_DOMAIN, admins=(
                f"spiffe://{DEFAULT_TRUST_DOMAIN}/ns/meshlens/sa/admin",))
        )  # fmt: skip
        audit = AuditLog(
            [JsonLinesAuditSink(self.control_dir / "audit.jsonl"),
             StoreAuditSink(self.store)]
        )  # fmt: skip
        self.control = await asyncio.to_thread(
            control_plane_from_dir,
            config,
            self.control_dir,
            config_dir=mesh_path.parent if mesh_path is not None else None,
            audit=audit,
            host=self.settings.host,
            port=self.settings.control_port,
        )
        await self.control.start()
        self._say(f"control    {self.control_url}")

    async def stop(self) -> None:
        await self.children.stop()
        if self.control is not None:
            await self.control.stop()
            self.control = None
        if self.collector is not None:
            await self.collector.stop()
            self.collector = None
        if self.ui is not None:
            await asyncio.to_thread(self.ui.stop)
            self.ui = None
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
            self.store = None

    @property
    def ui_url(self) -> str:
        assert self.ui is not None
        return f"http://{self._client_host}:{self.ui.port}"

    @property
    def control_url(self) -> str:
        assert self.control is not None
        return f"https://{self._client_host}:{self.control.port}"

    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.settings.host in ("0.0.0.0", "") else self.settings.host

    async def wait_first_trace(self, timeout_s: float = FIRST_TRACE_TIMEOUT_S) -> str | None:
        """The id of the first trace to reach storage, or None after timeout_s."""
        assert self.store is not None
        deadline = time.monotonic() + timeout_s
        query = TraceSearchQuery(limit=1)
        while time.monotonic() < deadline:
            found = await asyncio.to_thread(self.store.search_traces, query)
            if found:
                return found[0].trace_id
            await asyncio.sleep(0.5)
        return None

    def _say(self, line: str) -> None:
        print(line, file=self._out, flush=True)


def collector_config(s: Settings) -> CollectorConfig:
    """The collector's config from the settings; unset tail sampling values keep
    the collector's defaults."""
    tls = None
    if s.otlp_tls_cert_file is not None and s.otlp_tls_key_file is not None:
        client_ca = s.otlp_tls_client_ca_file
        tls = TlsServerConfig(
            str(s.otlp_tls_cert_file),
            str(s.otlp_tls_key_file),
            client_ca_file=str(client_ca) if client_ca is not None else None,
        )
    sampling_values = {
        "decision_wait_s": s.tail_sampling_wait,
        "latency_threshold_s": s.tail_sampling_latency,
        "keep_percent": s.tail_sampling_percent,
        "max_traces": s.tail_sampling_max_traces,
    }
    sampling = TailSamplingConfig(
        enabled=s.tail_sampling,
        **{k: v for k, v in sampling_values.items() if v is not None},  # type: ignore[arg-type]
    )
    self_metrics = (
        SelfMetricsConfig(interval_s=s.collector_self_metrics_interval)
        if s.collector_self_metrics_interval is not None
        else SelfMetricsConfig()
    )
    return CollectorConfig(
        host=s.host,
        http_port=s.otlp_http_port,
        grpc_port=s.otlp_grpc_port,
        admin_port=s.collector_admin_port,
        # accepted spans wait here while storage is away (zero loss)
        spool_dir=str(s.state_dir / "spool"),
        tail_sampling=sampling,
        self_metrics=self_metrics,
        tls=tls,
    )


async def run(
    settings: Settings,
    *,
    demo: bool,
    collector: bool = True,
    ui: bool = True,
    control: bool = True,
) -> int:
    """Run until SIGINT or SIGTERM; returns the exit code."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    mesh = AllInOne(settings, demo=demo, collector=collector, ui=ui, control=control)
    started = time.monotonic()
    announcer: asyncio.Task[None] | None = None
    try:
        try:
            await mesh.start()
        except (MeshConfigError, CollectorConfigError) as exc:
            print(f"meshlens: {exc}", file=sys.stderr)
            return 2
        if demo and mesh.ui is not None:
            announcer = asyncio.create_task(_announce_first_trace(mesh, started))
        mesh._say("MeshLens is up. Ctrl-C stops it and everything it started.")
        await _wait_or_child_exit(mesh, stopping)
    finally:
        if announcer is not None:
            announcer.cancel()
        await mesh.stop()
    return 0


async def _announce_first_trace(mesh: AllInOne, started: float) -> None:
    trace_id = await mesh.wait_first_trace()
    if trace_id is None:
        mesh._say(f"no trace arrived in {FIRST_TRACE_TIMEOUT_S:.0f} s: see the logs")
        return
    elapsed = time.monotonic() - started
    mesh._say(f"first trace after {elapsed:.1f} s: {mesh.ui_url}/trace/{trace_id}")


async def _wait_or_child_exit(mesh: AllInOne, stopping: asyncio.Event) -> None:
    reported: set[str] = set()
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 1.0)
        for child in mesh.children.exited():
            if child.name not in reported:
                reported.add(child.name)
                mesh._say(f"{child.name} exited with {child.returncode}:\n{child.log_tail()}")
