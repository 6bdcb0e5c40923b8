"""The proxy's current identity, its contexts, and when to renew it.

:class:`IdentityContexts` keeps immutable SSLContexts and swaps the references
on rotation: connections already open keep the context they were made with
(nothing is dropped), new handshakes take the new one. Subscribers hear of every
swap. ``upstream`` is the exception made for pools that keep the context they
were given: one object whose certificate is reloaded in place.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from proxy.identity.revocation_list import RevocationList
from proxy.identity.tls_contexts import (
    IdentityMaterial,
    client_context,
    load_chain,
    server_context,
)


@dataclass(frozen=True, slots=True)
class ContextSet:
    material: IdentityMaterial
    server: ssl.SSLContext  # requires a client certificate
    server_permissive: ssl.SSLContext  # verifies a client certificate only when sent
    client: ssl.SSLContext

    @classmethod
    def build(cls, material: IdentityMaterial) -> ContextSet:
        return cls(material, server_context(material),
                   server_context(material, require_client_cert=False),
                   client_context(material))


class IdentityContexts:
    def __init__(self, material: IdentityMaterial) -> None:
        self.current = ContextSet.build(material)
        # Pools built by code that keeps its context (route tables) get this one
        # object; rotation reloads its chain in place (new handshakes only).
        self.upstream = client_context(material)
        self.revocations = RevocationList()
        self.rotations = 0
        self._on_swap: list[Callable[[ContextSet], None]] = []
        self._on_revocations: list[Callable[[RevocationList], None]] = []

    def swap(self, material: IdentityMaterial) -> ContextSet:
        """Build contexts for ``material`` (raises if it is unusable) and make them current."""
        contexts = ContextSet.build(material)
        load_chain(self.upstream, material)
        if material.bundle_pem != self.current.material.bundle_pem:
            # adds the new roots; a root leaves this context only with a restart
            self.upstream.load_verify_locations(cadata=material.bundle_pem.decode("ascii"))
        self.current = contexts
        self.rotations += 1
        for callback in list(self._on_swap):
            callback(contexts)
        return contexts

    def set_revocations(self, revocations: RevocationList) -> None:
        if revocations.version == self.revocations.version:
            return
        self.revocations = revocations
        for callback in list(self._on_revocations):
            callback(revocations)

    def on_swap(self, callback: Callable[[ContextSet], None]) -> None:
        self._on_swap.append(callback)

    def on_revocations(self, callback: Callable[[RevocationList], None]) -> None:
        self._on_revocations.append(callback)


def renewal_delay(material: IdentityMaterial, now: float, *, jitter: float = 0.1,
                  rng: Callable[[], float] = random.random) -> float:
    """Seconds until renewal: half the leaf's life, +-``jitter`` of that half, from now."""
    start = material.not_before.timestamp()
    life = material.not_after.timestamp() - start
    half = life / 2
    at = start + half + (rng() * 2 - 1) * jitter * half
    return max(0.0, at - now)
