"""Time for the data plane: every part that waits or measures time takes a Clock.

``SystemClock`` is the event loop's monotonic time; ``FakeClock`` is advanced by
hand in tests, so token buckets, retry budgets, backoff and per-route timeouts
are checked without sleeping. :class:`ClockTimeout` is ``asyncio.timeout_at``
with its deadline on a clock: the clock's timer (``call_at``) expires it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Call ``callback`` (on the running loop) once ``monotonic()`` reaches ``when``."""
        ...


class SystemClock:
    """Monotonic seconds and ``asyncio.sleep``."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, when - time.monotonic()),
                                                     callback)


class _FakeTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when :meth:`advance` is called."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._order = itertools.count()
        self.slept: list[float] = []  # every requested sleep, in order, for assertions

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), waiter))
        await waiter

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = _FakeTimer(callback)
        if when <= self._now:
            asyncio.get_running_loop().call_soon(self._fire, timer)
        else:
            heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper and timer whose time has come."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)
        while self._timers and self._timers[0][0] <= self._now:
            self._fire(heapq.heappop(self._timers)[2])

    @staticmethod
    def _fire(timer: _FakeTimer) -> None:
        if not timer.cancelled:
            timer.cancelled = True
            timer.callback()

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, w in self._sleepers if not w.done())


class ClockTimeout:
    """``async with ClockTimeout(clock, deadline)``: ``asyncio.timeout_at`` whose
    deadline (None: none) is ``clock`` time, so a ``FakeClock`` drives it. Raises
    TimeoutError out of the block when the clock passes the deadline inside it."""

    __slots__ = ("_clock", "_deadline", "_timeout", "_timer")

    def __init__(self, clock: Clock, deadline: float | None) -> None:
        self._clock = clock
        self._deadline = deadline
        self._timeout = asyncio.timeout(None)
        self._timer: Timer | None = None

    async def __aenter__(self) -> ClockTimeout:
        await self._timeout.__aenter__()
        if self._deadline is not None:
            self._timer = self._clock.call_at(self._deadline, self._expire)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self._timeout.__aexit__(exc_type, exc, tb)  # raises TimeoutError if it fired

    def _expire(self) -> None:
        if not self._timeout.expired():
            self._timeout.reschedule(asyncio.get_running_loop().time())
