"""CPU cost per request of the sidecar's forwarding path, in process, noise-robust.

    python bench/proxy_cpu.py [--requests 20000] [--connections 16] [--repeats 5]

Wall-clock throughput on a shared machine swings with whatever else runs; CPU time
spent by this process per request does much less. One event loop (uvloop when
installed, as the sidecar runs) holds a tiny app (``200 ok`` from memory), two
sidecars and a keep-alive client over loopback. Cases:

- ``direct``: client -> app (the floor: client, app and kernel work);
- ``inbound``: client -> server sidecar inbound -> app (as bench/proxy.py);
- ``two_hop``: client -> client sidecar outbound -> server sidecar inbound -> app;
- ``two_hop_mtls``: the same, the sidecars speaking mTLS with identities from our
  own CA (``control.testing.TestCA``) as bench/tls_sidecar.py runs them (a
  listener bound to one server context, a pool with the client context);
- ``two_hop_mesh_identity``: the same over mTLS as :class:`IdentitySidecar` wires
  it, without the control plane: the per-connection mTLS listener (strict), the
  authorization gate with a policy, the revocation list and the upstream
  identity check;

each with telemetry off and on (a span per request, every request sampled, RED
metrics, OTLP export every second to the app, which answers 200 to the POSTs).
Figures per request: ``loop_us`` is CPU time of the event-loop thread (the request
path, the export task included: it runs on the loop), ``process_us`` that of the
whole process (equal since there is no export thread);
``added_*`` subtract ``direct``, ``tls_*`` the plaintext ``two_hop`` of the same
telemetry setting (what mTLS costs per request, both sidecars together). The
TLS cases also count handshakes (``handshakes``: new mesh connections of the
client sidecar and accepted connections of the server sidecar's inbound
listener, measured runs only; kept-alive connections make it 0). Each is the
median of ``--repeats`` runs (min in ``*_min``). Prints JSON; never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httptools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from control.mesh_config import Policy, PolicyAction
from control.policy import PolicyEvaluator
from control.testing import TestCA
from proxy.accept import Listener
from proxy.config import Endpoint, SidecarConfig
from proxy.identity.authz_gate import AuthorizingHandler
from proxy.identity.mtls_listener import MtlsListener
from proxy.identity.revocation_list import RevocationList
from proxy.identity.rotation import IdentityContexts
from proxy.identity.sidecar_identity import record_peer_identity
from proxy.identity.tls_contexts import IdentityMaterial, client_context, server_context
from proxy.identity.upstream_identity import UpstreamIdentityCheck
from proxy.inbound import InboundHandler
from proxy.routing.destination import Destination
from proxy.sidecar import Sidecar
from proxy.upstream_pool import PeerCheck

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"


class App(asyncio.Protocol):
    """Answers every request with ``200 ok`` (the upstream, and the OTLP sink)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        assert self._transport is not None
        self._transport.write(_OK)


class Client(asyncio.Protocol):
    """One keep-alive connection sending requests back to back until the quota is met."""

    def __init__(self, request: bytes, run: Run) -> None:
        self._request = request
        self._run = run
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._status = 0
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def send(self) -> None:
        assert self._transport is not None
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_message_complete(self) -> None:
        if self._status != 200:
            self._run.errors += 1
        if self._run.next():
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self._run.lost()


class Run:
    """``total`` requests over the clients; ``done`` resolves when all are answered."""

    def __init__(self, total: int, done: asyncio.Future[None]) -> None:
        self.remaining = total
        self.outstanding = 0
        self.errors = 0
        self._done = done

    def next(self) -> bool:
        self.outstanding -= 1
        if self.remaining > 0:
            self.remaining -= 1
            self.outstanding += 1
            return True
        if self.outstanding == 0 and not self._done.done():
            self._done.set_result(None)
        return False

    def lost(self) -> None:
        if not self._done.done():
            self._done.set_exception(ConnectionError("connection lost mid-run"))


async def load(port: int, host: str, total: int, connections: int) -> int:
    """Send ``total`` requests over ``connections`` keep-alive connections; errors."""
    loop = asyncio.get_running_loop()
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\n\r\n".encode()
    done: asyncio.Future[None] = loop.create_future()
    run = Run(total, done)
    clients: list[Client] = []
    for _ in range(connections):
        _, client = await loop.create_connection(lambda: Client(request, run),
                                                         "127.0.0.1", port)
        clients.append(client)
    for client in clients[:total]:
        run.remaining -= 1
        run.outstanding += 1
        client.send()
    await done
    for client in clients:
        client.closing = True
        if client._transport is not None:
            client._transport.close()
    await asyncio.sleep(0)
    return run.errors


async def measure(port: int, host: str, total: int, connections: int,
                  repeats: int, handshakes: Callable[[], int] | None = None
                  ) -> dict[str, float]:
    await load(port, host, min(total, 2000), connections)  # warm-up: pools, caches
    loop_us: list[float] = []
    process_us: list[float] = []
    errors = 0
    before = handshakes() if handshakes is not None else 0
    for _ in range(repeats):
        thread0, process0 = time.thread_time(), time.process_time()
        errors += await load(port, host, total, connections)
        loop_us.append((time.thread_time() - thread0) / total * 1e6)
        process_us.append((time.process_time() - process0) / total * 1e6)
    figures = {"loop_us": round(statistics.median(loop_us), 1),
               "loop_us_min": round(min(loop_us), 1),
               "process_us": round(statistics.median(process_us), 1),
               "process_us_min": round(min(process_us), 1), "errors": errors}
    if handshakes is not None:
        figures["handshakes"] = handshakes() - before
    return figures


def sidecar_config(name: str, app_port: int, telemetry: bool, otlp: str,
                   routes: list[dict[str, Any]] | None = None) -> SidecarConfig:
    return SidecarConfig.from_mapping({
        "service": name, "version": "v1", "app_port": app_port, "inbound_port": 0,
        "outbound_port": 0, "admin_port": 0, "telemetry": telemetry, "otlp_endpoint": otlp,
        "routes": routes or []})


def material(ca: TestCA, service: str) -> IdentityMaterial:
    issued = ca.identity(service)
    return IdentityMaterial(issued.chain_pem, issued.key_pem, issued.bundle_pem)


class MeshIdentitySidecar(Sidecar):
    """What :class:`~proxy.identity.IdentitySidecar` wires, from a fixed identity and
    policy instead of the control plane: strict per-connection mTLS inbound behind
    the authorization gate (revocation list included), the caller's identity on the
    SERVER span, and the upstream identity check on each new mesh connection."""

    def __init__(self, config: SidecarConfig, identity: IdentityContexts,
                 evaluator: PolicyEvaluator, trust_domain: str) -> None:
        super().__init__(config, upstream_ssl=identity.upstream)
        self.identity = identity
        self.evaluator = evaluator
        self.trust_domain = trust_domain

    def _inbound_listener(self, inbound: InboundHandler, config: SidecarConfig) -> Listener:
        if self.telemetry is not None:
            record_peer_identity(self.telemetry)
        gate = AuthorizingHandler(inbound, config.service, self.evaluator,
                                  identity=self.identity)
        return MtlsListener("inbound", gate, config.bind_host, config.inbound_port,
                            identity=self.identity, mode="strict",
                            max_body_bytes=config.max_request_body_bytes)

    def _upstream_peer_check(self) -> PeerCheck:
        def destinations_for(endpoint: Endpoint) -> tuple[Destination, ...]:
            routes = self.routes
            return routes.destinations_for(endpoint) if routes is not None else ()

        return UpstreamIdentityCheck(destinations_for, trust_domain=self.trust_domain,
                                     namespace=self.config.namespace)


def tls_sidecars(ca: TestCA, wiring: str, app_port: int, telemetry: bool, otlp: str
                 ) -> tuple[Sidecar, Callable[[int], Sidecar]]:
    """The server sidecar, and how to make the client sidecar once the server listens."""
    server_material, client_material = material(ca, "server"), material(ca, "client")
    server_config = sidecar_config("server", app_port, telemetry, otlp)

    def client_config(port: int) -> SidecarConfig:
        return sidecar_config("client", 9, telemetry, otlp,
                              [{"host": "server", "endpoints": [f"127.0.0.1:{port}"]}])

    if wiring == "mtls":
        def plain_client(port: int) -> Sidecar:
            return Sidecar(client_config(port), upstream_ssl=client_context(client_material))

        return Sidecar(server_config, inbound_ssl=server_context(server_material),
                       upstream_ssl=client_context(server_material)), plain_client
    # the client allowed by name, behind a deny of admin paths to any caller: each
    # request's path is matched (the gate's per-request work when a policy looks at it)
    evaluator = PolicyEvaluator(
        [Policy(name="no-admin", action=PolicyAction.DENY, sources=(), destinations=(),
                methods=(), paths=("/admin*",)),
         Policy(name="client-to-server", action=PolicyAction.ALLOW, sources=("client",),
                destinations=("server",), methods=(), paths=())], PolicyAction.DENY)

    def identity(of: IdentityMaterial) -> IdentityContexts:
        contexts = IdentityContexts(of)
        # a list in force, not naming this peer: refuses() does its lookups
        contexts.set_revocations(RevocationList(1, frozenset({"dead"}),
                                                frozenset({"spiffe://x/ns/y/sa/z"})))
        return contexts

    def mesh_client(port: int) -> Sidecar:
        return MeshIdentitySidecar(client_config(port), identity(client_material), evaluator,
                                   ca.trust_domain)

    return MeshIdentitySidecar(server_config, identity(server_material), evaluator,
                               ca.trust_domain), mesh_client


async def bench(total: int, connections: int, repeats: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    app_server = await loop.create_server(App, "127.0.0.1", 0)
    app_port = app_server.sockets[0].getsockname()[1]
    otlp = f"http://127.0.0.1:{app_port}"
    ca = TestCA("mesh.test")
    results: dict[str, Any] = {
        "direct": await measure(app_port, "app", total, connections, repeats)}
    for telemetry in (False, True):
        suffix = "on" if telemetry else "off"
        server = Sidecar(sidecar_config("server", app_port, telemetry, otlp))
        await server.start()
        client: Sidecar | None = None
        try:
            results[f"inbound_telemetry_{suffix}"] = await measure(
                server.inbound_port, "server", total, connections, repeats)
            client = Sidecar(sidecar_config(
                "client", 9, telemetry, otlp,
                [{"host": "server", "endpoints": [f"127.0.0.1:{server.inbound_port}"]}]))
            await client.start()
            results[f"two_hop_telemetry_{suffix}"] = await measure(
                client.outbound_port, "server", total, connections, repeats)
        finally:
            if client is not None:
                await client.stop()
            await server.stop()
        for wiring in ("mtls", "mesh_identity"):
            results[f"two_hop_{wiring}_telemetry_{suffix}"] = await tls_two_hop(
                ca, wiring, app_port, telemetry, otlp, total, connections, repeats)
    app_server.close()
    direct = results["direct"]
    for name, figures in results.items():
        if name != "direct":
            figures["added_loop_us"] = round(figures["loop_us"] - direct["loop_us"], 1)
            figures["added_process_us"] = round(figures["process_us"] - direct["process_us"], 1)
        plaintext = results.get(name.replace("_mtls", "").replace("_mesh_identity", ""))
        if plaintext is not None and plaintext is not figures:
            figures["tls_loop_us"] = round(figures["loop_us"] - plaintext["loop_us"], 1)
    return results


async def tls_two_hop(ca: TestCA, wiring: str, app_port: int, telemetry: bool, otlp: str,
                      total: int, connections: int, repeats: int) -> dict[str, float]:
    server, make_client = tls_sidecars(ca, wiring, app_port, telemetry, otlp)
    await server.start()
    client: Sidecar | None = None
    try:
        client = make_client(server.inbound_port)
        await client.start()

        def handshakes() -> int:
            assert client is not None and client.mesh_pool is not None
            return client.mesh_pool.opened + server.stats()["inbound"]["accepted"]

        return await measure(client.outbound_port, "server", total, connections, repeats,
                             handshakes)
    finally:
        if client is not None:
            await client.stop()
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="runs per case (median)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    factory = None
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        results = runner.run(bench(args.requests, args.connections, args.repeats))
    print(json.dumps({"python": platform.python_version(), "loop": args.loop,
                      "requests": args.requests, "connections": args.connections,
                      "repeats": args.repeats, "cases": results}, indent=2))


if __name__ == "__main__":
    main()
