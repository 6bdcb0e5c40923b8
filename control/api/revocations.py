"""POST /v1/revocations (by serial or identity) and GET /v1/revocations (the list).

Proxies watch the list (``?version=N&wait=1`` long-polls), so a revocation
reaches every proxy within one round trip of it being made.
"""

from __future__ import annotations

from aiohttp import web

from control.api.certificates import read_json_object
from control.api.control_state import require_admin, require_identity, state_of
from control.api.distribution import int_param


async def revoke(request: web.Request) -> web.Response:
    actor = require_admin(request)
    state = state_of(request)
    body = await read_json_object(request)
    serial, identity = body.get("serial"), body.get("identity")
    if not (isinstance(serial, str) and serial) and not (isinstance(identity, str) and identity):
        raise web.HTTPBadRequest(text="expected {\"serial\": hex} or {\"identity\": spiffe}\n")
    serial = serial.lower() if isinstance(serial, str) else None
    identity = identity if isinstance(identity, str) else None
    if state.inventory.revoke(serial=serial, identity=identity):
        state.revocation_feed.bump()
        state.audit.record("revocation", actor=actor, identity=identity or "",
                           serial=serial or "", reason=str(body.get("reason", "")))
    return web.json_response(state.inventory.revocation_list())


async def list_revocations(request: web.Request) -> web.Response:
    require_identity(request)
    state = state_of(request)
    if request.query.get("wait"):
        seen = int_param(request, "version", -1)
        timeout = min(float(request.query.get("timeout", state.watch_timeout_s)),
                      state.watch_timeout_s)
        # the feed's version is the inventory's plus one, so compare inventory versions
        if seen == state.inventory.version and not await state.revocation_feed.wait_newer(
                state.revocation_feed.version, timeout):
            raise web.HTTPNotModified()
    return web.json_response(state.inventory.revocation_list())
