"""Everything a Sidecar needs from the mesh identity, in one object.

``SidecarIdentity`` owns the ControlClient (bootstrap, renewal, watches) and
hands the Sidecar: an inbound listener terminating mTLS in the mesh's mode with
authorization in front of the forwarding handler, the upstream client context
(reloaded in place on every rotation), and each config snapshot as a
:class:`SidecarConfig` for ``Sidecar.apply_config``. :class:`IdentitySidecar`
is a Sidecar wired to all three; its inbound SERVER spans carry the caller's
SPIFFE ID as ``meshlens.peer.identity`` and its RED metrics the caller's service,
and its new upstream connections must reach the destination's identity
(:mod:`proxy.identity.upstream_identity`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from control.mesh_config import Policy, PolicyAction
from control.policy import AuthzRequest, Denied, PolicyEvaluator
from proxy.accept import Listener, RequestHandler
from proxy.config import Endpoint, SidecarConfig
from proxy.control_client import ControlClient
from proxy.identity.authz_gate import AuthorizingHandler, DeniedCallback, current_peer
from proxy.identity.mtls_listener import MtlsListener, MtlsMode
from proxy.identity.peer_identity import PeerIdentity, TlsState
from proxy.identity.upstream_identity import UpstreamIdentityCheck
from proxy.inbound import InboundHandler
from proxy.routing.destination import Destination
from proxy.sidecar import Sidecar
from proxy.telemetry import Direction, Headers, Hop, Telemetry
from proxy.upstream_pool import PeerCheck

log = logging.getLogger(__name__)
MTLS_MODES = ("strict", "permissive", "disabled")
ConfigSink = Callable[[SidecarConfig], Awaitable[object]]
PEER_IDENTITY_ATTRIBUTE = "meshlens.peer.identity"


def sidecar_config_from_snapshot(base: SidecarConfig, snapshot: dict[str, Any]) -> SidecarConfig:
    """``base`` with the snapshot's routes and destinations (validated like a file)."""
    data = base.to_dict()
    data["routes"], data["destinations"] = snapshot["routes"], snapshot["destinations"]
    return SidecarConfig.from_mapping(data, source="control snapshot")


def evaluator_from_snapshot(snapshot: dict[str, Any]) -> PolicyEvaluator:
    policies = [Policy(name=p["name"], action=PolicyAction(p["action"]),
                       sources=tuple(p["sources"]), destinations=tuple(p["destinations"]),
                       methods=tuple(p["methods"]), paths=tuple(p["paths"]))
                for p in snapshot.get("policies", [])]
    return PolicyEvaluator(policies, PolicyAction(snapshot.get("default_policy", "allow")))


class SidecarIdentity:
    def __init__(self, client: ControlClient, base: SidecarConfig, *,
                 mode: MtlsMode | None = None,
                 default_policy: PolicyAction = PolicyAction.ALLOW,
                 apply_config: ConfigSink | None = None,
                 on_denied: DeniedCallback | None = None) -> None:
        self.client = client
        self.base = base
        self.config = base  # base with the last snapshot's routes and destinations
        self._fixed_mode = mode
        self.mode: MtlsMode = mode or "strict"  # else the mesh's, from the first snapshot
        self.evaluator = PolicyEvaluator((), default_policy)
        self.apply_config = apply_config
        self._on_denied = on_denied or self._report_denied
        self._gates: list[AuthorizingHandler] = []
        self._pending: set[asyncio.Task[None]] = set()
        self.applied_version = 0  # the last snapshot in force
        client.on_snapshot = self._snapshot

    async def start(self, first_snapshot_timeout_s: float = 5.0) -> None:
        """Bootstrap (first certificate), start the watches and wait a little for the
        first config snapshot (routes, policies, mTLS mode); raises if bootstrap fails."""
        await self.client.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + first_snapshot_timeout_s
        while self.client.snapshot is None and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if self.client.snapshot is None:
            log.warning("%s: no config snapshot yet; starting %s with the local config",
                        self.base.service, self.mode)

    async def stop(self) -> None:
        await self.client.stop()
        for task in list(self._pending):
            task.cancel()

    @property
    def upstream_ssl(self) -> ssl.SSLContext:
        """One client context for the sidecar's whole life; rotations reload it in place."""
        assert self.client.identity is not None, "start() first"
        return self.client.identity.upstream

    def inbound_listener(self, handler: RequestHandler, host: str, port: int,
                         **listener_options: Any) -> MtlsListener:
        gate = AuthorizingHandler(handler, self.base.service, self.evaluator,
                                  identity=self.client.identity, on_denied=self._on_denied)
        self._gates.append(gate)
        return MtlsListener("inbound", gate, host, port, identity=self.client.identity,
                            mode=self.mode, **listener_options)

    def _report_denied(self, request: AuthzRequest, decision: Denied, state: TlsState) -> None:
        self.client.report_denied({
            "source": request.source or "", "destination": request.destination,
            "method": request.method, "path": request.path, "policy": decision.policy,
            "reason": decision.reason,
            "tls": "mtls" if isinstance(state, PeerIdentity) else getattr(state, "reason", "")})

    def _snapshot(self, version: int, snapshot: dict[str, Any]) -> None:
        evaluator = evaluator_from_snapshot(snapshot)  # raises on a bad snapshot: not applied
        config = sidecar_config_from_snapshot(self.base, snapshot)
        mode = snapshot.get("mtls")
        if self._fixed_mode is None and not self._gates and mode in MTLS_MODES:
            self.mode = mode  # fixed once the listener exists: a change needs a restart
        self.evaluator = evaluator
        self.config = config
        for gate in self._gates:
            gate.evaluator = evaluator
        if self.apply_config is None:
            self.applied_version = version
            return
        task = asyncio.get_running_loop().create_task(self._apply(version, config))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _apply(self, version: int, config: SidecarConfig) -> None:
        assert self.apply_config is not None
        try:
            await self.apply_config(config)
        except Exception:
            log.exception("%s: config snapshot %d not applied; the last good one stays",
                          self.base.service, version)
            return
        self.applied_version = version
        log.info("%s: config snapshot %d applied", self.base.service, version)


class IdentitySidecar(Sidecar):
    """A Sidecar on the mesh identity: mTLS inbound in the mesh's mode with
    authorization, mTLS upstream with the rotating identity, config from the watch.

    ``identity`` must be started (bootstrapped) first; it is not stopped here. The
    sidecar starts with ``identity.config``: the local config with the routes of
    the first snapshot.
    """

    def __init__(self, identity: SidecarIdentity, **options: Any) -> None:
        super().__init__(identity.config, upstream_ssl=identity.upstream_ssl, **options)
        self.identity = identity
        identity.apply_config = self.apply_config
        self.upstream_identity = UpstreamIdentityCheck(
            self._destinations_for, trust_domain=trust_domain_of(identity.client.spiffe_id),
            namespace=identity.base.namespace)

    def _upstream_peer_check(self) -> PeerCheck:
        return self.upstream_identity

    def _destinations_for(self, endpoint: Endpoint) -> tuple[Destination, ...]:
        routes = self.routes
        return routes.destinations_for(endpoint) if routes is not None else ()

    def _inbound_listener(self, inbound: InboundHandler, config: SidecarConfig) -> Listener:
        if self.telemetry is not None:
            record_peer_identity(self.telemetry)
        return self.identity.inbound_listener(inbound, config.bind_host, config.inbound_port,
                                              max_body_bytes=config.max_request_body_bytes)


def trust_domain_of(spiffe_id: str) -> str:
    """``mesh.test`` of ``spiffe://mesh.test/ns/default/sa/frontend``."""
    return spiffe_id.removeprefix("spiffe://").split("/", 1)[0]


def record_peer_identity(telemetry: Telemetry) -> None:
    """Make ``telemetry``'s inbound hops carry the verified peer of the request
    (:func:`current_peer`, set by the authorization gate): its SPIFFE ID as the
    ``meshlens.peer.identity`` span attribute and its service as the RED source."""
    start_hop = telemetry.start_hop

    def start_hop_with_peer(direction: Direction, method: bytes, path: str, headers: Headers,
                            attributes: dict[str, str | int]) -> Hop:
        peer = current_peer() if direction == "inbound" else None
        if peer is not None and telemetry.enabled:
            attributes[PEER_IDENTITY_ATTRIBUTE] = peer.spiffe_id
        hop = start_hop(direction, method, path, headers, attributes)
        if peer is not None and telemetry.enabled:
            hop.source = peer.service
        return hop

    telemetry.start_hop = start_hop_with_peer  # type: ignore[method-assign]


async def run_identity_sidecar(config: SidecarConfig, control_url: str, *, token: str,
                               bundle_pem: bytes, trust_domain: str,
                               stop: asyncio.Event) -> None:
    """Bootstrap, run a sidecar on the mesh identity until ``stop``, then stop both."""
    spiffe_id = f"spiffe://{trust_domain}/ns/{config.namespace}/sa/{config.service}"
    identity = SidecarIdentity(ControlClient(control_url, spiffe_id, bundle_pem=bundle_pem,
                                             token=token), config)
    await identity.start()
    try:
        sidecar = IdentitySidecar(identity)
        try:
            await sidecar.start()
            await stop.wait()
        finally:
            await sidecar.stop()
    finally:
        await identity.stop()
