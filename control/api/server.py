"""The control plane's HTTPS API (default port 15010) and its lifecycle.

``ControlPlane(config, ca, ...)``: ``await start()`` serves, ``await stop()``
releases long-polls and closes; stop is safe before start and twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

from aiohttp import web

from control.api.ca_rotation import rotate_intermediate
from control.api.certificates import list_certificates, post_certificate
from control.api.control_state import STATE, ControlState
from control.api.denials import report_denials
from control.api.distribution import set_route_weights, watch_config
from control.api.revocations import list_revocations, revoke
from control.api.server_tls import control_server_context
from control.audit import AuditLog
from control.bootstrap_tokens import BootstrapTokens
from control.ca import DEFAULT_LEAF_LIFETIME, CertificateAuthority, Clock
from control.certificate_inventory import CertificateInventory
from control.mesh_config import MeshConfig

log = logging.getLogger(__name__)
DEFAULT_CONTROL_PORT = 15010


def build_app(state: ControlState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_post("/v1/certificates", post_certificate)
    app.router.add_get("/v1/certificates", list_certificates)
    app.router.add_get("/v1/watch", watch_config)
    app.router.add_post("/v1/routes/{service}/weights", set_route_weights)
    app.router.add_post("/v1/revocations", revoke)
    app.router.add_get("/v1/revocations", list_revocations)
    app.router.add_post("/v1/denials", report_denials)
    app.router.add_post("/v1/ca/intermediate", rotate_intermediate)
    return app


class ControlPlane:
    def __init__(self, config: MeshConfig, ca: CertificateAuthority, *,
                 tokens: BootstrapTokens | None = None,
                 inventory: CertificateInventory | None = None,
                 audit: AuditLog | None = None, host: str = "127.0.0.1",
                 port: int = DEFAULT_CONTROL_PORT, watch_timeout_s: float = 30.0,
                 leaf_lifetime: dt.timedelta = DEFAULT_LEAF_LIFETIME,
                 clock: Clock = time.time) -> None:
        self.state = ControlState(
            config=config, ca=ca, tokens=tokens or BootstrapTokens.from_config(config),
            inventory=inventory or CertificateInventory(clock=clock),
            audit=audit or AuditLog(clock=clock), watch_timeout_s=watch_timeout_s,
            leaf_lifetime=leaf_lifetime)
        self.host = host
        self._requested_port = port
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        runner = web.AppRunner(build_app(self.state), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port,
                               ssl_context=control_server_context(self.state.ca, self.host),
                               reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._requested_port
        log.info("control plane on %s", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.state.config_feed.wake_all()
        self.state.revocation_feed.wake_all()
        await runner.cleanup()


def control_plane_from_dir(config: MeshConfig, state_dir: Path, *, config_dir: Path | None = None,
                           audit: AuditLog | None = None, **kwargs: object) -> ControlPlane:
    """A control plane whose CA and inventory live in ``state_dir`` (ca/, certificates.json)."""
    ca = CertificateAuthority.load_or_create(state_dir / "ca", config.trust_domain)
    return ControlPlane(config, ca, tokens=BootstrapTokens.from_config(config, config_dir),
                        inventory=CertificateInventory(state_dir / "certificates.json"),
                        audit=audit, **kwargs)  # type: ignore[arg-type]
