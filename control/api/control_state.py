"""Everything the control API handlers share: config, CA, inventory, feeds, audit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from aiohttp import web

from control.api.caller_identity import caller_serial, caller_spiffe_id
from control.api.change_feed import ChangeFeed
from control.audit import AuditLog
from control.bootstrap_tokens import BootstrapTokens
from control.ca import DEFAULT_LEAF_LIFETIME, CertificateAuthority
from control.certificate_inventory import CertificateInventory
from control.mesh_config import MeshConfig


@dataclass(slots=True)
class ControlState:
    config: MeshConfig
    ca: CertificateAuthority
    tokens: BootstrapTokens
    inventory: CertificateInventory
    audit: AuditLog
    watch_timeout_s: float = 30.0
    leaf_lifetime: dt.timedelta = DEFAULT_LEAF_LIFETIME
    config_feed: ChangeFeed = field(default_factory=ChangeFeed)
    revocation_feed: ChangeFeed = field(default_factory=ChangeFeed)

    def set_config(self, config: MeshConfig) -> int:
        self.config = config
        return self.config_feed.bump()


STATE = web.AppKey("control_state", ControlState)


def state_of(request: web.Request) -> ControlState:
    return request.app[STATE]


def require_identity(request: web.Request) -> str:
    """The caller's SPIFFE ID; 401 without one, 403 when it is revoked."""
    spiffe_id = caller_spiffe_id(request)
    if spiffe_id is None:
        raise web.HTTPUnauthorized(text="a mesh client certificate is required\n")
    if state_of(request).inventory.is_revoked(spiffe_id, caller_serial(request)):
        raise web.HTTPForbidden(text=f"{spiffe_id} is revoked\n")
    return spiffe_id


def require_admin(request: web.Request) -> str:
    spiffe_id = require_identity(request)
    if spiffe_id not in state_of(request).config.admins:
        raise web.HTTPForbidden(text=f"{spiffe_id} is not an admin of this mesh\n")
    return spiffe_id
