"""A client for the admin endpoints: inventory, revocation, CA rotation, route weights.

Used by ``meshlens certs`` and by the canary controller. It authenticates with an
admin identity; ``for_local_ca`` mints one from the CA directory of a control
plane on this machine (whoever can read the CA key is an admin anyway).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiohttp

from control.api.server_tls import mtls_context
from control.ca import CertificateAuthority


class AdminClient:
    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        self.url = url.rstrip("/")
        self._context = context

    @classmethod
    def with_identity(cls, url: str, chain_pem: bytes, key_pem: bytes,
                      bundle_pem: bytes) -> AdminClient:
        return cls(url, mtls_context(ssl.PROTOCOL_TLS_CLIENT, chain_pem, key_pem, bundle_pem))

    @classmethod
    def for_local_ca(cls, url: str, ca_dir: Path, trust_domain: str) -> AdminClient:
        ca = CertificateAuthority.load_or_create(ca_dir, trust_domain)
        issued, key_pem = ca.issue_with_key(f"spiffe://{trust_domain}/ns/meshlens/sa/admin")
        return cls.with_identity(url, issued.chain_pem, key_pem, ca.trust_bundle_pem())

    async def certificates(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (await self._call("GET", "/v1/certificates"))["certificates"]
        return rows

    async def revoke(self, *, serial: str | None = None, identity: str | None = None,
                     reason: str = "") -> dict[str, Any]:
        body = {"serial": serial, "identity": identity, "reason": reason}
        return await self._call("POST", "/v1/revocations",
                                {k: v for k, v in body.items() if v})

    async def rotate_intermediate(self, reason: str = "") -> dict[str, Any]:
        """Switch the CA to a new intermediate; the new one's key id, serial and subject."""
        return await self._call("POST", "/v1/ca/intermediate", {"reason": reason})

    async def set_weights(self, service: str, weights: dict[str, int],
                          reason: str = "") -> dict[str, Any]:
        return await self._call("POST", f"/v1/routes/{service}/weights",
                                {"weights": weights, "reason": reason})

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.request(
                method, f"{self.url}{path}", json=body, ssl=self._context) as response:
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} "
                                   f"{(await response.text()).strip()}")
            return await response.json()
