"""Flow-controlled body stream between a parser (producer) and a forwarder.

The parser feeds chunks as they arrive; when more than ``high_water`` bytes wait
unread the producing transport is paused, and resumed once the forwarder has
drained below ``low_water``. Bodies are therefore streamed, never buffered whole.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class BodyAborted(ConnectionError):
    """The connection carrying the body went away before the body ended."""


class BodyStream:
    __slots__ = (
        "_buffered",
        "_chunks",
        "_ended",
        "_error",
        "_high",
        "_low",
        "_pause",
        "_paused",
        "_resume",
        "_waiter",
    )

    def __init__(self, pause: Callable[[], None], resume: Callable[[], None],
                 high_water: int = 256 * 1024) -> None:
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._pause, self._resume = pause, resume
        self._paused = False
        self._high, self._low = high_water, high_water // 4

    @classmethod
    def empty(cls) -> BodyStream:
        stream = cls(_noop, _noop)
        stream.end()
        return stream

    def restart(self) -> bool:
        """Ready for another body, if this one was read to its end cleanly with nobody
        waiting; False: make a new stream."""
        if (not self._ended or self._chunks or self._error is not None
                or self._waiter is not None or self._paused):
            return False
        self._ended = False
        self._buffered = 0
        return True

    @property
    def ended(self) -> bool:
        """The whole body has been received (it may still be unread)."""
        return self._ended

    @property
    def consumed(self) -> bool:
        """The whole body has been received and read."""
        return self._ended and not self._chunks

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > self._high and not self._paused:
            self._paused = True
            self._pause()
        if self._waiter is not None:  # (no call when nobody waits: once per response)
            self._wake()

    def end(self) -> None:
        self._ended = True
        if self._waiter is not None:
            self._wake()

    def abort(self, error: BaseException | None = None) -> None:
        if not self._ended:
            self._error = error or BodyAborted("connection closed mid-body")
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read(self) -> bytes:
        """Next chunk, or ``b""`` at the end of the body; raises BodyAborted."""
        while (chunk := self.read_nowait()) is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return chunk

    def read_received(self) -> list[bytes]:
        """Every chunk of a body received whole (``ended``), at once: what a forwarder
        relays in one write."""
        assert self._ended and self._error is None
        chunks = list(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self._resume()
        return chunks

    def read_nowait(self) -> bytes | None:
        """Like :meth:`read` when a chunk (or the end) is already here, else None:
        lets a forwarder gather what has arrived into one write."""
        chunks = self._chunks
        if not chunks:
            if self._error is not None:
                raise self._error
            return b"" if self._ended else None
        chunk = chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= self._low:
            self._paused = False
            self._resume()
        return chunk


def _noop() -> None:
    return None
