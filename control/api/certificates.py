"""POST /v1/certificates (issue or renew from a CSR) and GET /v1/certificates (inventory).

The first certificate is asked for with the service's bootstrap token; after
that a proxy renews over mTLS and gets a leaf for the identity it already has.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from control.api.caller_identity import caller_spiffe_id
from control.api.control_state import require_admin, require_identity, state_of
from control.ca import CsrRejected, SpiffeId


async def post_certificate(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await _json(request)
    csr = body.get("csr")
    if not isinstance(csr, str):
        raise web.HTTPBadRequest(text="expected {\"csr\": PEM, \"token\": ...}\n")
    if caller_spiffe_id(request) is not None:
        spiffe_id = require_identity(request)
        expected = SpiffeId.parse(spiffe_id)
        actor, kind = spiffe_id, "renewal"
    else:
        token = body.get("token")
        service_name = state.tokens.service_for(token) if isinstance(token, str) else None
        service = state.config.service(service_name) if service_name else None
        if service is None:
            state.audit.record("csr_rejected", actor="anonymous",
                               reason="missing or unknown bootstrap token")
            raise web.HTTPUnauthorized(text="unknown bootstrap token\n")
        expected = SpiffeId(state.config.trust_domain, service.namespace, service.name)
        actor, kind = f"bootstrap-token:{service.name}", "issuance"
    if str(expected) in state.inventory.revoked_identities:
        state.audit.record("csr_rejected", actor=actor, identity=str(expected),
                           reason="identity is revoked")
        raise web.HTTPForbidden(text=f"{expected} is revoked\n")
    try:
        issued = state.ca.sign_csr(csr.encode(), expected, lifetime=state.leaf_lifetime)
    except CsrRejected as exc:
        state.audit.record("csr_rejected", actor=actor, identity=str(expected), reason=str(exc))
        raise web.HTTPBadRequest(text=f"CSR rejected: {exc}\n") from exc
    state.inventory.add(issued, kind)
    state.audit.record("issuance" if kind == "issuance" else "renewal", actor=actor,
                       identity=issued.spiffe_id, serial=issued.serial_hex,
                       reason=f"{kind}, not after {issued.not_after.isoformat()}")
    return web.json_response({
        "spiffe_id": issued.spiffe_id, "serial": issued.serial_hex,
        "not_after": issued.not_after.isoformat(), "chain": issued.chain_pem.decode(),
        "bundle": state.ca.trust_bundle_pem().decode()})


async def list_certificates(request: web.Request) -> web.Response:
    require_admin(request)
    rows = [asdict(r) for r in state_of(request).inventory.rows()]
    return web.json_response({"certificates": rows})


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}\n") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object\n")
    return body


read_json_object = _json
