"""The sidecar's side of the mesh identity: mTLS listener, rotation, authorization,
and the check that an upstream peer is the destination's identity.

``run_identity_sidecar`` (bootstrap from the control plane, then a sidecar on
mTLS until ``stop``) and the main classes are importable from here. They load
lazily: ``proxy.control_client`` imports this package's modules, and the
sidecar modules import it back.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "IdentityMaterial": "proxy.identity.tls_contexts",
    "IdentitySidecar": "proxy.identity.sidecar_identity",
    "NoIdentity": "proxy.identity.peer_identity",
    "PeerIdentity": "proxy.identity.peer_identity",
    "SidecarIdentity": "proxy.identity.sidecar_identity",
    "TlsState": "proxy.identity.peer_identity",
    "UpstreamIdentityCheck": "proxy.identity.upstream_identity",
    "run_identity_sidecar": "proxy.identity.sidecar_identity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
