"""Child processes that `meshlens up` starts and must always stop.

Each child runs in its own process group, writes to its own log file, and is
stopped with SIGTERM, then SIGKILL after a grace period, so Ctrl-C on `meshlens up`
never leaves an orphan behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class ChildProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    _proc: asyncio.subprocess.Process | None = field(default=None, init=False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    async def start(self) -> None:
        if self._proc is not None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                start_new_session=True,
            )

    async def stop(self, grace_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ChildGroup:
    """Starts children in order and stops them in reverse order."""

    def __init__(self) -> None:
        self._children: list[ChildProcess] = []

    @property
    def children(self) -> tuple[ChildProcess, ...]:
        return tuple(self._children)

    async def start(self, child: ChildProcess) -> None:
        self._children.append(child)
        await child.start()

    def exited(self) -> list[ChildProcess]:
        """Children that have exited on their own."""
        return [c for c in self._children if c.returncode is not None]

    async def stop(self) -> None:
        while self._children:
            await self._children.pop().stop()
