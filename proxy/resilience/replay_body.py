"""A request body that can be sent again, as long as it fits a small buffer.

Retries and mirrors need the request body a second time, but bodies stream and
are never buffered whole. :class:`ReplayBody` wraps the downstream body and keeps
what it has read up to ``limit`` bytes; past that it stops keeping and a replay
is no longer possible (the request is then not retried, nor mirrored).
"""

from __future__ import annotations

from typing import Protocol


class BodySource(Protocol):
    async def read(self) -> bytes: ...


class ReplayBody:
    __slots__ = ("_cursor", "_ended", "_kept", "_limit", "_size", "_source", "overflowed")

    def __init__(self, source: BodySource, limit: int) -> None:
        self._source = source
        self._limit = limit
        self._kept: list[bytes] = []
        self._size = 0
        self._cursor = 0
        self._ended = False
        self.overflowed = False

    async def read(self) -> bytes:
        """Kept chunks first (after a rewind), then the rest of the source."""
        if self._cursor < len(self._kept):
            chunk = self._kept[self._cursor]
            self._cursor += 1
            return chunk
        if self._ended:
            return b""
        chunk = await self._source.read()
        if not chunk:
            self._ended = True
            return chunk
        if not self.overflowed:
            self._size += len(chunk)
            if self._size > self._limit:
                self.overflowed = True
                self._kept.clear()
            else:
                self._kept.append(chunk)
                self._cursor += 1
        return chunk

    @property
    def kept_bytes(self) -> int:
        """Bytes read so far, while they are all kept."""
        return self._size

    def rewind(self) -> bool:
        """Start again from the first byte; False when part of the body was not kept."""
        if self.overflowed:
            return False
        self._cursor = 0
        return True

    def complete_body(self) -> bytes | None:
        """The whole body when it has been read to its end and kept, else None."""
        if self._ended and not self.overflowed:
            return b"".join(self._kept)
        return None
