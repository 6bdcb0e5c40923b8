"""`meshlens up --demo` as a user runs it: a process, real ports, a trace on screen,
and the mesh on mTLS (identities issued, peers on the spans, plaintext refused)."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from control.api import AdminClient
from tests.ports import free_ports

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SERVICES = {"frontend", "catalog", "inventory"}
TRUST_DOMAIN = "cluster.local"
# who calls whom in the demo: the load enters through the ingress sidecar
CALLERS = {"frontend": "ingress", "catalog": "frontend", "inventory": "catalog"}


def spiffe_id(service: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/ns/demo/sa/{service}"


class UpProcess:
    """`meshlens up --demo` in its own process group, its output read line by line."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        grpc_port, http_port, ui_port, admin_port, control_port = free_ports(5)
        self.marker = uuid.uuid4().hex
        env = dict(os.environ, MESHLENS_E2E_MARKER=self.marker)
        argv = [
            sys.executable, "-m", "meshlens", "up", "--demo",
            "--storage", f"chdb://{state_dir}/data", "--state-dir", str(state_dir),
            "--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port),
            "--ui-port", str(ui_port), "--collector-admin-port", str(admin_port),
            "--control-port", str(control_port), "--demo-rate", "20",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=env, start_new_session=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, prefix: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, "meshlens up exited:\n" + "\n".join(self.output)
                continue
            self.output.append(line)
            if line.startswith(prefix):
                return line
        seen = "\n".join(self.output)
        raise AssertionError(f"no line starting {prefix!r} in {timeout_s} s:\n{seen}")

    def interrupt(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise

    def processes_left(self) -> list[int]:
        """Processes other than the test's own still carrying this run's marker."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if self.marker.encode() in environ:
                found.append(int(entry.name))
        return found


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    running = UpProcess(tmp_path)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.interrupt()
        for pid in running.processes_left():
            os.kill(pid, signal.SIGKILL)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def is_db_span(span: dict) -> bool:
    return span["span_attributes"].get("db.system.name") == "sqlite"


def is_whole(spans: list[dict]) -> bool:
    """Every parent present, and inventory's database span there too."""
    ids = {s["span_id"] for s in spans}
    linked = all(not s["parent_span_id"] or s["parent_span_id"] in ids for s in spans)
    return linked and any(is_db_span(s) for s in spans)


def find_full_trace(ui: str, timeout_s: float) -> tuple[str, list[dict]]:
    """A whole trace holding spans of all three demo services.

    Sidecars and apps export on their own schedules, so a trace may be seen before
    all its spans have arrived: keep looking until one is whole. If propagation
    were broken, no trace would ever be whole and this would fail.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for summary in get_json(f"{ui}/api/traces?service=inventory&limit=50")["traces"]:
            if not SERVICES <= set(summary["services"]):
                continue
            spans = get_json(f"{ui}/api/traces/{summary['trace_id']}")["spans"]
            if is_whole(spans):
                return summary["trace_id"], spans
        time.sleep(1)
    raise AssertionError(f"no whole trace with {sorted(SERVICES)} in {timeout_s} s")


def plaintext_answer(port: int) -> bytes:
    """What a sidecar's inbound port answers a plaintext request with (b"" if nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n")
        try:
            return sock.recv(4096)
        except (ConnectionResetError, TimeoutError):
            return b""


def inbound_ports(state_dir: Path) -> dict[str, int]:
    """Each demo service's inbound port, from the mesh.yaml `meshlens up --demo` wrote."""
    mesh = yaml.safe_load((state_dir / "demo" / "mesh.yaml").read_text())
    return {
        svc["name"]: int(svc["versions"][0]["endpoints"][0].rsplit(":", 1)[1])
        for svc in mesh["services"]
    }


def check_mesh_runs_on_mtls(up: UpProcess, control_url: str, spans: list[dict]) -> None:
    # every server span names its verified caller
    for callee, caller in CALLERS.items():
        server = next(
            s for s in spans if s["service_name"] == callee and s["span_kind"] == "Server"
        )
        assert server["span_attributes"].get("meshlens.peer.identity") == spiffe_id(caller)

    # the control plane issued one identity per sidecar: its API (as admin) and the CLI agree
    identities = {spiffe_id(s) for s in (*SERVICES, "ingress")}
    client = AdminClient.for_local_ca(control_url, up.state_dir / "control" / "ca", TRUST_DOMAIN)
    rows = asyncio.run(client.certificates())
    assert {r["spiffe_id"] for r in rows if r["status"] == "valid"} >= identities, rows
    listed = subprocess.run(
        [sys.executable, "-m", "meshlens", "certs", "list",
         "--state-dir", str(up.state_dir / "control"), "--control-url", control_url],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    for identity in identities:
        assert any(line.startswith(identity) and line.endswith("valid")
                   for line in listed.splitlines()), listed  # fmt: skip

    # strict mTLS: a plaintext request to any sidecar's inbound port gets no HTTP answer
    ports = inbound_ports(up.state_dir)
    assert set(ports) == {*SERVICES, "ingress"}
    for service, port in ports.items():
        assert plaintext_answer(port) == b"", f"{service} answered plaintext"


def test_up_demo_shows_a_trace_across_three_services(up: UpProcess) -> None:
    control_url = up.wait_for_line("control ", 90).split()[-1]
    metrics_url = up.wait_for_line("collector ", 90).split()[-1]
    ui = up.wait_for_line("UI ", 90).split()[-1]
    up.wait_for_line("first trace after", 90)

    trace_id, spans = find_full_trace(ui, 60)

    by_id = {s["span_id"]: s for s in spans}
    roots = [s for s in spans if not s["parent_span_id"]]
    assert len(roots) == 1 and roots[0]["service_name"] == "frontend"
    assert roots[0]["span_kind"] == "Server"
    # each hop: a client span in the caller's sidecar is the parent of the callee's server span
    for callee, caller in (("catalog", "frontend"), ("inventory", "catalog")):
        server = next(
            s for s in spans if s["service_name"] == callee and s["span_kind"] == "Server"
        )
        parent = by_id[server["parent_span_id"]]
        assert (parent["service_name"], parent["span_kind"]) == (caller, "Client")
    db = next(s for s in spans if is_db_span(s))
    assert db["service_name"] == "inventory"
    assert by_id[db["parent_span_id"]]["service_name"] == "inventory"

    with urllib.request.urlopen(f"{ui}/trace/{trace_id}", timeout=10) as resp:
        assert resp.status == 200
        page = resp.read().decode()
    for service in SERVICES:
        assert service in page

    with urllib.request.urlopen(metrics_url, timeout=10) as resp:
        metrics = resp.read().decode()
    accepted = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("meshlens_collector_accepted_spans_total")
    )
    assert accepted >= len(spans)

    check_mesh_runs_on_mtls(up, control_url, spans)

    assert up.interrupt() == 0
    assert up.processes_left() == []
