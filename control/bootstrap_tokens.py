"""Bootstrap tokens: one per service, from mesh.yaml or a file it names.

A token proves nothing but "I may ask for this service's identity"; it is used
once per proxy start, after which renewals authenticate with the current cert.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from control.mesh_config.model import MeshConfig, Service


class BootstrapTokens:
    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = dict(tokens)

    @classmethod
    def from_config(cls, config: MeshConfig, base_dir: Path | None = None) -> BootstrapTokens:
        tokens: dict[str, str] = {}
        for service in config.services:
            token = _token_of(service, base_dir)
            if token:
                tokens[service.name] = token
        return cls(tokens)

    def service_for(self, token: str) -> str | None:
        """The service this token entitles, compared in constant time."""
        found = None
        for service, expected in self._tokens.items():
            if hmac.compare_digest(expected.encode(), token.encode()):
                found = service
        return found


def _token_of(service: Service, base_dir: Path | None) -> str | None:
    if service.bootstrap_token:
        return service.bootstrap_token
    if service.bootstrap_token_file:
        path = Path(service.bootstrap_token_file)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return path.read_text(encoding="utf-8").strip() or None
    return None
