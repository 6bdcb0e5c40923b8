"""Outbound: the sidecar at the other end must be the destination's identity.

Chaining to the mesh's roots proves a peer is *some* workload of the mesh; this
check proves it is the one the request is for. It runs as the upstream pool's
``peer_check``: once per new connection, right after the handshake, never per
request (a kept-alive connection has one peer for its life). The SPIFFE ID
expected of an endpoint is its destination's ``identity`` (the control plane
fills it in from mesh.yaml), else ``spiffe://<own trust domain>/ns/<own
namespace>/sa/<destination service>``. A mismatch refuses the connection before
a byte of the request is written: the request fails as a connect failure would,
502 with ``x-meshlens-reason: upstream_identity_mismatch`` and an
``upstream.identity_mismatch`` span event. So does an endpoint no destination
lists, or one listed under destinations of different identities: connections
are pooled per address, so an address must have one identity.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from proxy.config import Endpoint
from proxy.identity.peer_identity import NoIdentity, PeerIdentity, identity_of_ssl_object
from proxy.routing.destination import Destination
from proxy.upstream_pool import UpstreamRefused

REASON = "upstream_identity_mismatch"
EVENT = "upstream.identity_mismatch"
EXPECTED_ATTRIBUTE = "meshlens.identity.expected"
PRESENTED_ATTRIBUTE = "meshlens.identity.presented"
UNKNOWN_ENDPOINT = "none: the endpoint is in no destination"
AMBIGUOUS_ENDPOINT = "ambiguous: the endpoint is listed with "


class UpstreamIdentityMismatch(UpstreamRefused):
    def __init__(self, endpoint: Endpoint, expected: str, presented: str) -> None:
        super().__init__(REASON, (EVENT, {EXPECTED_ATTRIBUTE: expected,
                                          PRESENTED_ATTRIBUTE: presented,
                                          "meshlens.endpoint": str(endpoint)}))
        self.expected = expected
        self.presented = presented


class UpstreamIdentityCheck:
    """``destinations_for(endpoint)`` asks the route table in force."""

    def __init__(self, destinations_for: Callable[[Endpoint], tuple[Destination, ...]], *,
                 trust_domain: str, namespace: str) -> None:
        self._destinations_for = destinations_for
        self._trust_domain = trust_domain
        self._namespace = namespace
        self.checked = 0
        self.refused = 0

    def expected_identity(self, endpoint: Endpoint) -> str:
        """The SPIFFE ID, or why there is none (which no peer presents)."""
        expected = sorted({self.identity_of(d) for d in self._destinations_for(endpoint)})
        if len(expected) == 1:
            return expected[0]
        return AMBIGUOUS_ENDPOINT + " and ".join(expected) if expected else UNKNOWN_ENDPOINT

    def identity_of(self, destination: Destination) -> str:
        return destination.config.identity or \
            f"spiffe://{self._trust_domain}/ns/{self._namespace}/sa/{destination.service}"

    def __call__(self, endpoint: Endpoint, ssl_object: ssl.SSLObject | None) -> None:
        self.checked += 1
        expected = self.expected_identity(endpoint)
        state = identity_of_ssl_object(ssl_object)
        if isinstance(state, PeerIdentity) and state.spiffe_id == expected:
            return
        self.refused += 1
        presented = state.spiffe_id if isinstance(state, PeerIdentity) else \
            _no_identity(state)
        raise UpstreamIdentityMismatch(endpoint, expected, presented)


def _no_identity(state: NoIdentity) -> str:
    return f"none: {state.reason}"
