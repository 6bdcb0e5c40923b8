"""Inbound authorization: a request handler in front of the one that forwards.

It reads the connection's TLS state (set by ``MtlsListener``), refuses revoked
peers (on every request: the list may change between two), asks the policy
evaluator, and answers a denial itself with 403 and the deciding policy in
``x-meshlens-policy``. The evaluator is narrowed to each caller once
(:meth:`PolicyEvaluator.for_caller`), so a request costs matching its method and
path, and only when a policy that could decide looks at them. In front of an
:class:`InboundHandler` the denial goes through its
:meth:`~InboundHandler.refuse`, so it has a SERVER span like any request, an
error carrying ``meshlens.authz.policy``, ``meshlens.authz.decision`` ("deny")
and ``meshlens.authz.reason``. The evaluator is swapped whole when a new config
snapshot arrives, and what was narrowed from it with it. While the inner handler
(or the refusal) runs, :func:`current_peer` gives the request's verified peer
(the sidecar records it on the SERVER span). Bodyless requests take the inline
path behind the gate as they do without it (:meth:`AuthorizingHandler.inline`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from control.policy import AuthzDecision, AuthzRequest, CallerPolicies, Denied, PolicyEvaluator
from proxy.accept import Exchange, InlineHandler, RequestHandler
from proxy.http_codec import split_target, target_path
from proxy.identity.peer_identity import NoIdentity, PeerIdentity, TlsState
from proxy.identity.rotation import IdentityContexts
from proxy.inbound import InboundHandler

POLICY_HEADER = b"x-meshlens-policy"
AUTHZ_POLICY = "meshlens.authz.policy"
AUTHZ_DECISION = "meshlens.authz.decision"
AUTHZ_REASON = "meshlens.authz.reason"
DENIED_ERROR_TYPE = "authz_denied"  # error.type of a denied request's span
DeniedCallback = Callable[[AuthzRequest, Denied, TlsState], None]
_PEER: ContextVar[PeerIdentity | None] = ContextVar("meshlens_peer", default=None)
_MAX_CALLERS = 4096  # callers whose narrowed policies a gate keeps (see _policies_for)


def current_peer() -> PeerIdentity | None:
    """The verified peer of the request being handled in this task, if any."""
    return _PEER.get()


def tls_state_of(exchange: Exchange) -> TlsState:
    state = getattr(exchange.conn, "tls_state", None)
    return state if isinstance(state, PeerIdentity | NoIdentity) else NoIdentity("disabled")


class AuthorizingHandler:
    """Authorizes each request, then hands it to ``inner``: as a coroutine, or, for a
    bodyless request the connection offers inline (see :mod:`proxy.exchange`), to
    ``inner.inline`` when it has one, from the parser callback like any other inline
    exchange. Either way the decision, the denial and its span are the same."""

    def __init__(self, inner: RequestHandler, service: str, evaluator: PolicyEvaluator, *,
                 identity: IdentityContexts | None = None,
                 on_denied: DeniedCallback | None = None) -> None:
        self._inner = inner
        self._inner_inline: InlineHandler | None = getattr(inner, "inline", None)
        self._service = service
        self._by_caller: dict[str | None, CallerPolicies] = {}
        self.evaluator = evaluator
        self._identity = identity
        self._on_denied = on_denied
        self._refuse = inner.refuse if isinstance(inner, InboundHandler) else None
        self.denied = 0

    @property
    def evaluator(self) -> PolicyEvaluator:
        return self._evaluator

    @evaluator.setter
    def evaluator(self, evaluator: PolicyEvaluator) -> None:
        """Swapped whole with each config snapshot: what was narrowed from the old is gone."""
        self._evaluator = evaluator
        self._by_caller = {}

    async def __call__(self, exchange: Exchange) -> None:
        state = self._admit(exchange)
        if state is None:
            return
        peer = _PEER.set(state if isinstance(state, PeerIdentity) else None)
        try:
            await self._inner(exchange)
        finally:
            _PEER.reset(peer)

    def inline(self, exchange: Exchange) -> bool:
        """The same from the parser callback: True when taken (answered, denied, or
        in flight inline); False leaves the exchange to the worker (``__call__``)."""
        inner = self._inner_inline
        if inner is None:
            return False
        state = self._admit(exchange)
        if state is None:  # denied: answered already
            exchange.conn.inline_done()
            return True
        peer = _PEER.set(state if isinstance(state, PeerIdentity) else None)
        try:
            return inner(exchange)  # its start (and the span's) sees the peer
        finally:
            _PEER.reset(peer)

    def _admit(self, exchange: Exchange) -> TlsState | None:
        """The connection's TLS state when the request may go on; None when it was
        refused here (revoked peer, or denied by policy) and answered."""
        state = tls_state_of(exchange)
        if self._identity is not None and self._identity.revocations.refuses(state):
            exchange.close_after = True
            self._deny(exchange, Denied("revocation", "peer certificate is revoked"),
                       self._request(exchange, state), state)
            return None
        policies = self._policies_for(state)
        decision: AuthzDecision | None = policies.fixed
        if decision is None:  # it depends on the method or the path
            head = exchange.head
            _authority, target = split_target(head.target)
            decision = policies.decide(head.method.decode("latin-1"), target_path(target))
        if isinstance(decision, Denied):
            self._deny(exchange, decision, self._request(exchange, state), state)
            return None
        return state

    def _policies_for(self, state: TlsState) -> CallerPolicies:
        """The evaluator narrowed to this caller (:meth:`PolicyEvaluator.for_caller`),
        made on the caller's first request, not on each: per request only the method
        and path are left to match, when any policy that could decide looks at them."""
        source = state.spiffe_id if isinstance(state, PeerIdentity) else None
        policies = self._by_caller.get(source)
        if policies is None:
            if len(self._by_caller) >= _MAX_CALLERS:
                self._by_caller.clear()
            policies = self._by_caller[source] = self._evaluator.for_caller(source,
                                                                            self._service)
        return policies

    def _request(self, exchange: Exchange, state: TlsState) -> AuthzRequest:
        _authority, target = split_target(exchange.head.target)
        return AuthzRequest(
            source=state.spiffe_id if isinstance(state, PeerIdentity) else None,
            destination=self._service, method=exchange.head.method.decode("latin-1"),
            path=target_path(target))

    def _deny(self, exchange: Exchange, decision: Denied, request: AuthzRequest,
              state: TlsState) -> None:
        self.denied += 1
        if self._on_denied is not None:
            self._on_denied(request, decision, state)
        body = f"{decision.reason}\n".encode()
        headers = [(POLICY_HEADER, decision.policy.encode("latin-1"))]
        if self._refuse is None:
            exchange.respond(403, body, headers)
            return
        peer = _PEER.set(state if isinstance(state, PeerIdentity) else None)
        try:
            self._refuse(exchange, 403, body, headers,
                         {AUTHZ_POLICY: decision.policy, AUTHZ_DECISION: "deny",
                          AUTHZ_REASON: decision.reason}, DENIED_ERROR_TYPE)
        finally:
            _PEER.reset(peer)
