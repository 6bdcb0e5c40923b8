"""Config distribution: GET /v1/watch (long-poll) and POST /v1/routes/<svc>/weights.

A proxy watches with the version it has; it gets its snapshot at once when the
version differs, or when it changes within the watch timeout, else 304. The
snapshot also names the intermediate CA signing now (``signing_ca``), so that a
proxy renews soon after an intermediate rotation (see ``ca_rotation``).
"""

from __future__ import annotations

import json

from aiohttp import web

from control.api.ca_rotation import signing_ca
from control.api.certificates import read_json_object
from control.api.control_state import require_admin, require_identity, state_of
from control.ca import SpiffeId
from control.config_snapshots import snapshot_for, weights_problem, with_weights


async def watch_config(request: web.Request) -> web.Response:
    spiffe_id = require_identity(request)
    state = state_of(request)
    seen = _int_param(request, "version", 0)
    timeout = min(float(request.query.get("timeout", state.watch_timeout_s)),
                  state.watch_timeout_s)
    if not await state.config_feed.wait_newer(seen, timeout):
        raise web.HTTPNotModified()
    service = SpiffeId.parse(spiffe_id).service
    snapshot = snapshot_for(state.config, service)
    snapshot["signing_ca"] = signing_ca(state.ca)
    return web.json_response({"version": state.config_feed.version, "snapshot": snapshot})


async def set_route_weights(request: web.Request) -> web.Response:
    actor = require_admin(request)
    state = state_of(request)
    service = request.match_info["service"]
    body = await read_json_object(request)
    weights = body.get("weights")
    problem = weights_problem(state.config, service, weights)
    if problem is not None:
        raise web.HTTPBadRequest(text=problem + "\n")
    assert isinstance(weights, dict)
    version = state.set_config(with_weights(state.config, service, weights))
    state.audit.record("config_change", actor=actor, identity=service,
                       reason=str(body.get("reason", "route weights")),
                       detail=json.dumps({"weights": weights, "version": version}))
    return web.json_response({"version": version, "service": service, "weights": weights})


def _int_param(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{name}: expected an integer\n") from exc


int_param = _int_param
