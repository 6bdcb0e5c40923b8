"""Data-plane benchmark: the MeshLens sidecar side by side with nginx, one run.

    python bench/proxy.py [--duration 5] [--rate 1000]

Upstream for every case: nginx (one worker) answering ``200 ok`` from memory.
Cases, each loaded with wrk: the upstream directly; nginx as a reverse proxy
(one worker, keep-alive upstream); ``floor_relay``, the thinnest relay Python can
be on uvloop + httptools (bench/floor_relay.py, one process, keep-alive upstream,
no checks, routing or telemetry), the best any Python sidecar on these parts can
reach here; the MeshLens sidecar's inbound listener (one process) with telemetry
off, then on (a span per request, every request sampled, RED metrics, spans and
metrics exported over OTLP/HTTP to the nginx upstream, which answers 200 to every
POST). Figures: throughput at 16 connections, p50/p99 at 1 connection (added =
minus direct); the summary puts nginx, the floor and the sidecar side by side.
Then at a fixed rate with bench/fixed_rate.py: two nginx reverse proxies
chained (the reference), and the two-sidecar hop (client sidecar outbound ->
server sidecar inbound, telemetry on), twice: plaintext, and
over mTLS with certificates from our own CA (``control.testing.TestCA``;
bench/tls_sidecar.py runs those sidecars): added p50/p90/p99, and RSS.

The proxy under test is pinned to CPU 0, load and upstream to CPU 1 (taskset).
Prints JSON; never pass/fail. Needs wrk and nginx (apt-get install wrk nginx).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PROXY_CPU, LOAD_CPU = "0", "1"
UPSTREAM_CONF = """
worker_processes 1; daemon off; pid {dir}/{name}.pid; error_log {dir}/{name}.err;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000;
  {upstream}
  server {{ listen 127.0.0.1:{port}; location / {{ {location} }} }} }}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@contextlib.contextmanager
def process(command: list[str], cpu: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["taskset", "-c", cpu, *command], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_port(port)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nginx(workdir: Path, name: str, port: int, location: str, upstream: str = "",
          cpu: str = LOAD_CPU) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    conf = workdir / f"{name}.conf"
    conf.write_text(UPSTREAM_CONF.format(dir=workdir, name=name, port=port, location=location,
                                         upstream=upstream))
    return process(["nginx", "-p", str(workdir), "-c", str(conf)], cpu, port)


def sidecar(workdir: Path, name: str, app_port: int, ports: dict[str, int], telemetry: bool,
            otlp: str, routes: str = "", tls: Path | None = None
            ) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """``python -m proxy``; with ``tls`` (a directory from :func:`issue_identities`), a
    sidecar that speaks mTLS with that identity (bench/tls_sidecar.py)."""
    conf = workdir / f"{name}.yaml"
    conf.write_text(f"service: {name}\nversion: v1\napp_port: {app_port}\n"
                    f"inbound_port: {ports['inbound']}\noutbound_port: {ports['outbound']}\n"
                    f"admin_port: {ports['admin']}\ntelemetry: {str(telemetry).lower()}\n"
                    f"otlp_endpoint: {otlp}\n{routes}")
    if tls is None:
        command = [PYTHON, "-m", "proxy", "--config", str(conf), "--log-level", "WARNING"]
    else:
        command = [PYTHON, str(ROOT / "bench" / "tls_sidecar.py"), "--config", str(conf),
                   "--tls", str(tls)]
    return process(command, PROXY_CPU, ports["inbound"])


def floor_relay(port: int, app_port: int
                ) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """bench/floor_relay.py on ``port`` in front of ``app_port``, pinned as the sidecar is."""
    command = [PYTHON, str(ROOT / "bench" / "floor_relay.py"), "--listen", str(port),
               "--upstream", str(app_port)]
    return process(command, PROXY_CPU, port)


def issue_identities(workdir: Path, services: tuple[str, ...]) -> dict[str, Path]:
    """A test CA and one identity per service: chain.pem, key.pem, bundle.pem each."""
    sys.path.insert(0, str(ROOT))
    from control.testing import TestCA

    ca = TestCA("mesh.test")
    out = {}
    for service in services:
        identity = ca.identity(service)
        directory = workdir / f"tls-{service}"
        directory.mkdir(mode=0o700)
        (directory / "chain.pem").write_bytes(identity.chain_pem)
        (directory / "key.pem").write_bytes(identity.key_pem)
        (directory / "bundle.pem").write_bytes(identity.bundle_pem)
        out[service] = directory
    return out


def wrk(url: str, connections: int, duration: int, host: str | None = None) -> dict[str, float]:
    command = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
               "--latency", url]
    if host:
        command += ["-H", f"Host: {host}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    figures: dict[str, float] = {"rps": round(rps)}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if match:
            scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)]
            figures[f"p{pct}_ms"] = round(float(match.group(1)) * scale, 3)
    figures["errors"] = len(re.findall(r"Non-2xx|Socket errors", out))
    return figures


def measure(url: str, duration: int, host: str | None = None) -> dict[str, object]:
    wrk(url, 16, 1, host)  # warm-up: pools filled, code paths hot
    return {"c16": wrk(url, 16, duration, host), "c1": wrk(url, 1, duration, host)}


def fixed_rate(url: str, rate: int, duration: int, host: str | None = None) -> dict[str, float]:
    command = ["taskset", "-c", LOAD_CPU, PYTHON, str(ROOT / "bench" / "fixed_rate.py"),
               "--url", url, "--rate", str(rate), "--duration", str(duration)]
    if host:
        command += ["--host", host]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True,
                                       cwd=ROOT).stdout)
    return dict(result)


def machine() -> dict[str, object]:
    model = ""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release()}


def run(duration: int, rate: int) -> dict[str, object]:
    for tool in ("wrk", "nginx", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install wrk nginx util-linux")
    results: dict[str, object] = {"machine": machine(), "duration_s": duration}
    with tempfile.TemporaryDirectory(prefix="meshlens-bench-") as tmp:
        work = Path(tmp)
        app_port, rp_port = free_port(), free_port()
        with nginx(work, "upstream", app_port, 'return 200 "ok\\n";'):
            app = f"http://127.0.0.1:{app_port}/"
            results["direct"] = measure(app, duration)
            upstream = f"upstream app {{ server 127.0.0.1:{app_port}; keepalive 64; }}"
            location = ('proxy_pass http://app; proxy_http_version 1.1; '
                        'proxy_set_header Connection "";')
            with nginx(work, "reverse", rp_port, location, upstream, cpu=PROXY_CPU) as proc:
                results["nginx"] = {**measure(f"http://127.0.0.1:{rp_port}/", duration),
                                    "rss_mb": rss_mb(proc.pid)}
            floor_port = free_port()
            with floor_relay(floor_port, app_port) as proc:
                results["floor_relay"] = {**measure(f"http://127.0.0.1:{floor_port}/", duration),
                                          "rss_mb": rss_mb(proc.pid)}
            for telemetry in (False, True):
                ports = {k: free_port() for k in ("inbound", "outbound", "admin")}
                with sidecar(work, "server", app_port, ports, telemetry, app) as proc:
                    figures = measure(f"http://127.0.0.1:{ports['inbound']}/", duration)
                    results[f"meshlens_telemetry_{'on' if telemetry else 'off'}"] = {
                        **figures, "rss_mb": rss_mb(proc.pid)}
            direct = fixed_rate(f"http://127.0.0.1:{app_port}/", rate, duration)
            results["two_nginx_hop"] = two_nginx_hops(work, app_port, rate, duration, direct)
            results["two_sidecar_hop"] = two_hops(work, app_port, rate, duration, direct)
            results["two_sidecar_hop_mtls"] = two_hops(
                work, app_port, rate, duration, direct,
                issue_identities(work, ("client", "server")))
    summarize(results)
    return results


def added(hop: dict[str, float], direct: dict[str, float]) -> dict[str, float]:
    return {f"added_{p}_ms": round(hop[f"{p}_ms"] - direct[f"{p}_ms"], 3)
            for p in ("p50", "p90", "p99")}


def two_nginx_hops(work: Path, app_port: int, rate: int, duration: int,
                   direct: dict[str, float]) -> dict[str, object]:
    """The reference for the two-sidecar hop: two nginx reverse proxies (one worker each,
    keep-alive upstreams) chained on the sidecars' CPU, at the same fixed rate."""
    second, first = free_port(), free_port()
    location = 'proxy_pass http://next; proxy_http_version 1.1; proxy_set_header Connection "";'
    with nginx(work, "hop2", second, location,
               f"upstream next {{ server 127.0.0.1:{app_port}; keepalive 64; }}", cpu=PROXY_CPU), \
            nginx(work, "hop1", first, location,
                  f"upstream next {{ server 127.0.0.1:{second}; keepalive 64; }}", cpu=PROXY_CPU):
        hop = fixed_rate(f"http://127.0.0.1:{first}/", rate, duration)
    return {"transport": "plaintext", "direct": direct, "through_two_nginx": hop,
            **added(hop, direct)}


def two_hops(work: Path, app_port: int, rate: int, duration: int, direct: dict[str, float],
             tls: dict[str, Path] | None = None) -> dict[str, object]:
    """Client sidecar outbound -> server sidecar inbound -> upstream at ``rate``, telemetry
    on; over mTLS when ``tls`` has an identity for "client" and "server"."""
    app = f"http://127.0.0.1:{app_port}"
    server = {k: free_port() for k in ("inbound", "outbound", "admin")}
    client = {k: free_port() for k in ("inbound", "outbound", "admin")}
    routes = (f"routes:\n  - host: server\n    service: server\n"
              f"    endpoints: [\"127.0.0.1:{server['inbound']}\"]\n")
    with sidecar(work, "server", app_port, server, True, app,
                 tls=tls["server"] if tls else None) as server_proc, \
            sidecar(work, "client", 9, client, True, app, routes,
                    tls=tls["client"] if tls else None) as client_proc:
        wait_port(client["outbound"])
        hop = fixed_rate(f"http://127.0.0.1:{client['outbound']}/", rate, duration, "server")
        rss = {"client_rss_mb": rss_mb(client_proc.pid), "server_rss_mb": rss_mb(server_proc.pid)}
    return {"transport": "mTLS (client sidecar -> server sidecar)" if tls else "plaintext",
            "telemetry": "on", "direct": direct, "through_two_sidecars": hop, **rss,
            **added(hop, direct)}


def summarize(results: dict[str, object]) -> None:
    direct = results["direct"]
    nginx_figures = results["nginx"]
    assert isinstance(direct, dict) and isinstance(nginx_figures, dict)
    summary: dict[str, object] = {}
    for name in ("nginx", "floor_relay", "meshlens_telemetry_off", "meshlens_telemetry_on"):
        figures = results[name]
        assert isinstance(figures, dict)
        summary[name] = {
            "rps_c16": figures["c16"]["rps"],
            "rps_vs_nginx": round(figures["c16"]["rps"] / nginx_figures["c16"]["rps"], 2),
            "added_p50_ms_c1": round(figures["c1"]["p50_ms"] - direct["c1"]["p50_ms"], 3),
            "added_p99_ms_c1": round(figures["c1"]["p99_ms"] - direct["c1"]["p99_ms"], 3),
        }
    results["summary"] = summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rate", type=int, default=1000, help="req/s for the two-hop run")
    args = parser.parse_args()
    print(json.dumps(run(args.duration, args.rate), indent=2))


if __name__ == "__main__":
    main()
