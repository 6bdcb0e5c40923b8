"""Bodyless requests behind the authorization gate take the inline path, over mTLS.

The client sidecar's kept-alive mTLS connection to the server sidecar carries a
mix of requests: allowed ones (forwarded from the parser callback, with the
caller's identity on the SERVER span), denied ones (403 and the SERVER span of a
denial, answered inline too), and a request with a body (the worker path behind
the same gate). A spy on the inbound listener's inline entry point counts what
was offered to it and what it took.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from proxy.accept import Exchange, Listener
from tests.identity_mesh import (
    ADMIN_DENY,
    FRONTEND,
    TIMEOUT,
    IdentityMesh,
    admin_deny_yaml,
    running_identity_mesh,
)

RUN_ON_UVLOOP = True
POLICY = ADMIN_DENY


class InlineSpy:
    """Wraps a listener's inline entry point: the paths offered, and those taken."""

    def __init__(self, listener: Listener) -> None:
        inline = listener.inline
        assert inline is not None, "the gate offers an inline path"
        self.offered: list[str] = []
        self.taken: list[str] = []

        def spy(exchange: Exchange) -> bool:
            path = exchange.head.target.decode()
            self.offered.append(path)
            taken = inline(exchange)
            if taken:
                self.taken.append(path)
            return taken

        listener.inline = spy


@pytest.fixture
async def mesh() -> AsyncIterator[IdentityMesh]:
    async with running_identity_mesh(admin_deny_yaml, ("frontend", "backend")) as mesh:
        yield mesh


def spy_on_backend(mesh: IdentityMesh) -> InlineSpy:
    listener = mesh.sidecars["backend"]._inbound  # the gated mTLS listener
    assert listener is not None
    return InlineSpy(listener)


async def call(session: aiohttp.ClientSession, mesh: IdentityMesh, method: str, path: str,
               body: bytes | None = None) -> tuple[int, str, str]:
    async with session.request(method, mesh.outbound_url("frontend") + path, data=body,
                               headers={"Host": "backend"}) as response:
        return (response.status, await response.text(),
                response.headers.get("x-meshlens-policy", ""))


async def test_allowed_and_denied_requests_are_answered_inline_with_their_spans(mesh):
    spy = spy_on_backend(mesh)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        answers = [await call(session, mesh, "GET", path)
                   for path in ("/items", "/items/2", "/admin/users", "/items/3")]
    assert answers == [(200, "hello /items", ""), (200, "hello /items/2", ""),
                       (403, f"denied by policy {POLICY}\n", POLICY),
                       (200, "hello /items/3", "")]
    assert mesh.app.paths == ["/items", "/items/2", "/items/3"]  # the denied one never
    assert spy.taken == spy.offered == ["/items", "/items/2", "/admin/users", "/items/3"]

    spans = {s.attributes["url.path"]: s for s in await mesh.finished_spans("backend")
             if s.kind is SpanKind.SERVER}
    for path in ("/items", "/items/2", "/items/3"):
        allowed = spans[path]
        assert allowed.status.status_code is StatusCode.UNSET
        assert allowed.attributes["http.response.status_code"] == 200
        assert allowed.attributes["meshlens.peer.identity"] == FRONTEND
        assert "meshlens.authz.policy" not in allowed.attributes
    denied = spans["/admin/users"]
    assert denied.status.status_code is StatusCode.ERROR
    assert denied.attributes["http.response.status_code"] == 403
    assert denied.attributes["error.type"] == "authz_denied"
    assert denied.attributes["meshlens.authz.policy"] == POLICY
    assert denied.attributes["meshlens.authz.decision"] == "deny"
    assert denied.attributes["meshlens.peer.identity"] == FRONTEND

    # each SERVER span continues the caller's CLIENT span, inline or not
    clients = {s.attributes["url.path"]: s for s in await mesh.finished_spans("frontend")
               if s.kind is SpanKind.CLIENT}
    for path, server in spans.items():
        assert server.parent is not None
        assert server.parent.span_id == clients[path].context.span_id


async def test_a_request_with_a_body_goes_through_the_gate_on_the_worker_path(mesh):
    spy = spy_on_backend(mesh)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        assert (await call(session, mesh, "GET", "/items"))[0] == 200
        # a body: not offered inline, decided by the same gate in the worker
        assert (await call(session, mesh, "POST", "/admin/upload", b"x" * 100))[:1] == (403,)
        assert (await call(session, mesh, "GET", "/items/after"))[0] == 200
    assert spy.offered == ["/items", "/items/after"]
    assert mesh.app.paths == ["/items", "/items/after"]
    denied = [s for s in await mesh.finished_spans("backend")
              if s.attributes.get("url.path") == "/admin/upload"]
    assert [s.attributes["error.type"] for s in denied] == ["authz_denied"]
