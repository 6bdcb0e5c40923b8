"""A version number that waiters can block on until it moves (long-poll support)."""

from __future__ import annotations

import asyncio


class ChangeFeed:
    def __init__(self, version: int = 1) -> None:
        self.version = version
        self._changed = asyncio.Event()

    def bump(self) -> int:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return self.version

    def wake_all(self) -> None:
        """Release every waiter without a change (shutdown)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_newer(self, seen: int, timeout: float) -> bool:
        """True once the version differs from ``seen``; False after ``timeout``."""
        if self.version != seen:
            return True
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return False
        return self.version != seen
