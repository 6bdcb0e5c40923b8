"""POST /v1/ca/intermediate: switch signing to a new intermediate under the current root.

Admin only, like revocation. The new intermediate signs every leaf from the
moment it answers; the trust bundle (roots) stays as it is, so leaves of the
old intermediate keep verifying until they expire. The config version moves,
and the snapshot each proxy gets names the new signing key (``signing_ca``):
a proxy whose leaf another key signed renews within a few seconds (spread, so a
mesh does not renew all at once) instead of at half its leaf's life, as SPIRE
agents do when an authority is rotated out. Audited as ``ca_rotation``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from control.api.certificates import read_json_object
from control.api.control_state import require_admin, state_of
from control.ca import CertificateAuthority, RootKeyUnavailable


async def rotate_intermediate(request: web.Request) -> web.Response:
    actor = require_admin(request)
    state = state_of(request)
    body = await read_json_object(request) if request.can_read_body else {}
    try:
        # on the loop, not in a thread: a leaf signed meanwhile must see one whole CA
        previous = state.ca.rotate_intermediate()
    except RootKeyUnavailable as exc:
        state.audit.record("ca_rotation", actor=actor, reason=f"refused: {exc}")
        raise web.HTTPConflict(text=f"{exc}\n") from exc
    version = state.config_feed.bump()
    current = state.ca.intermediate
    state.audit.record(
        "ca_rotation", actor=actor, identity=_common_name(current),
        serial=format(current.serial_number, "x"),
        reason=str(body.get("reason") or "intermediate rotation"),
        detail=json.dumps({"previous_serial": format(previous.serial_number, "x"),
                           "signing_key_id": state.ca.signing_key_id,
                           "config_version": version}))
    return web.json_response({**signing_ca(state.ca),
                              "previous_serial": format(previous.serial_number, "x"),
                              "config_version": version})


def signing_ca(ca: CertificateAuthority) -> dict[str, Any]:
    """The intermediate signing now, as the watch snapshot and the API show it."""
    current = ca.intermediate
    return {"key_id": ca.signing_key_id, "serial": format(current.serial_number, "x"),
            "subject": _common_name(current),
            "not_after": current.not_valid_after_utc.isoformat()}


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()
