"""POST /v1/denials: proxies report the requests they denied, for the audit log.

Proxies batch their reports (about once a second); the reporting proxy's own
identity is the actor, the denied caller the identity.
"""

from __future__ import annotations

import json

from aiohttp import web

from control.api.certificates import read_json_object
from control.api.control_state import require_identity, state_of

MAX_BATCH = 500


async def report_denials(request: web.Request) -> web.Response:
    reporter = require_identity(request)
    state = state_of(request)
    body = await read_json_object(request)
    denials = body.get("denials")
    if not isinstance(denials, list) or len(denials) > MAX_BATCH:
        raise web.HTTPBadRequest(text=f"expected {{\"denials\": [...]}} of at most {MAX_BATCH}\n")
    for item in denials:
        if not isinstance(item, dict):
            continue
        state.audit.record(
            "request_denied", actor=reporter, identity=str(item.get("source") or ""),
            reason=f"{item.get('policy', '')}: {item.get('reason', '')}",
            detail=json.dumps({k: item.get(k) for k in ("destination", "method", "path",
                                                         "tls")}))
    return web.json_response({"recorded": len(denials)})
