"""A request denied by policy: 403 with the policy's name, a SERVER span saying which
policy denied it and why, and an audit event; the app never sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from proxy.metrics.prometheus import parse
from tests.identity_mesh import (
    ADMIN_DENY,
    FRONTEND,
    TIMEOUT,
    IdentityMesh,
    admin_deny_yaml,
    running_identity_mesh,
    wait_until,
)

RUN_ON_UVLOOP = True
POLICY = ADMIN_DENY


@pytest.fixture
async def mesh() -> AsyncIterator[IdentityMesh]:
    async with running_identity_mesh(admin_deny_yaml, ("frontend", "backend")) as mesh:
        yield mesh


async def get(mesh: IdentityMesh, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.get(
            mesh.outbound_url("frontend") + path, headers={"Host": "backend"}) as response:
        await response.read()
        return response.status, response.headers.get("x-meshlens-policy", "")


async def test_denied_request_has_a_server_span_with_the_policy_and_reason(mesh):
    assert await get(mesh, "/admin/users") == (403, POLICY)
    assert await get(mesh, "/items") == (200, "")
    assert mesh.app.paths == ["/items"]  # the denied request never reached the app

    spans = await mesh.finished_spans("backend")
    denied = [s for s in spans if s.attributes.get("meshlens.authz.policy") == POLICY]
    assert len(denied) == 1
    span = denied[0]
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["meshlens.authz.decision"] == "deny"
    assert span.attributes["meshlens.authz.reason"] == f"denied by policy {POLICY}"
    assert span.attributes["http.response.status_code"] == 403
    assert span.attributes["error.type"] == "authz_denied"
    assert span.attributes["url.path"] == "/admin/users"
    assert span.attributes["meshlens.peer.identity"] == FRONTEND  # who was denied
    allowed = [s for s in spans if s.attributes.get("url.path") == "/items"]
    assert [s.status.status_code for s in allowed] == [StatusCode.UNSET]
    assert "meshlens.authz.policy" not in allowed[0].attributes

    # the denial is a hop of the caller's trace, as a forwarded request is
    client = next(s for s in await mesh.finished_spans("frontend")
                  if s.attributes.get("url.path") == "/admin/users")
    assert span.context.trace_id == client.context.trace_id
    assert span.parent is not None and span.parent.span_id == client.context.span_id

    await wait_until(lambda: any(e.action == "request_denied" for e in mesh.audit.events))
    audited = next(e for e in mesh.audit.events if e.action == "request_denied")
    assert (audited.identity, audited.reason) == (FRONTEND, f"{POLICY}: denied by policy {POLICY}")


async def test_denials_count_in_red_metrics_as_client_errors_of_the_caller(mesh):
    for _ in range(3):
        assert (await get(mesh, "/admin/x"))[0] == 403
    backend = mesh.sidecars["backend"]
    assert backend.telemetry is not None
    samples = parse(backend.telemetry.prometheus_text())
    denied = {labels: value for (name, labels), value in samples.items()
              if name == "meshlens_proxy_requests_total"
              and ("status_class", "4xx") in labels and ("direction", "inbound") in labels}
    assert list(denied.values()) == [3]
    assert ("source", "frontend") in next(iter(denied))
