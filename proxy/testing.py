"""A transport that keeps what is written: enough of one for the proxy's protocols,
to drive them without sockets (unit tests, bench/proxy_path.py)."""

from __future__ import annotations

from typing import Any


class RecordingTransport:
    def __init__(self) -> None:
        self.out: list[bytes] = []  # every write; a writelines as one
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def writelines(self, data: list[bytes]) -> None:
        self.out.append(b"".join(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed
