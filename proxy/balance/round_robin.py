"""Round robin: the candidates in turn."""

from __future__ import annotations

from collections.abc import Sequence

from proxy.health.endpoint_state import EndpointState


class RoundRobin:
    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def pick(self, candidates: Sequence[EndpointState]) -> EndpointState:
        # the candidates shrink and grow with health; a counter modulo their
        # number keeps the turn without a per-endpoint cursor
        index = self._next
        self._next = index + 1
        return candidates[index % len(candidates)]
