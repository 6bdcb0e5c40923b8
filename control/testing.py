"""A test CA that ships with the code: real certificates, no mocks.

``TestCA("mesh.test")`` is a whole CA in memory. ``identity("frontend")`` gives
the material a proxy would hold after bootstrap (chain, key, trust bundle);
``expired`` and another ``TestCA`` give the certificates a proxy must refuse.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from control.ca import CertificateAuthority, Clock, IssuedCertificate
from control.ca.spiffe_id import SpiffeId


@dataclass(frozen=True, slots=True)
class IssuedIdentity:
    """Field for field what ``proxy.identity.IdentityMaterial`` takes, plus the record."""

    chain_pem: bytes
    key_pem: bytes
    bundle_pem: bytes
    issued: IssuedCertificate

    @property
    def spiffe_id(self) -> str:
        return self.issued.spiffe_id

    @property
    def serial_hex(self) -> str:
        return self.issued.serial_hex


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, trust_domain: str = "mesh.test", *, clock: Clock = time.time) -> None:
        self.trust_domain = trust_domain
        self.ca = CertificateAuthority.create(trust_domain, clock=clock)

    def spiffe_id(self, service: str, namespace: str = "default") -> SpiffeId:
        return SpiffeId(self.trust_domain, namespace, service)

    def identity(self, service: str, namespace: str = "default", *,
                 lifetime: dt.timedelta = dt.timedelta(hours=24),
                 not_before: dt.datetime | None = None,
                 dns_names: tuple[str, ...] = ()) -> IssuedIdentity:
        issued, key_pem = self.ca.issue_with_key(str(self.spiffe_id(service, namespace)),
                                                 lifetime=lifetime, not_before=not_before,
                                                 dns_names=dns_names)
        return IssuedIdentity(issued.chain_pem, key_pem, self.ca.trust_bundle_pem(), issued)

    def expired(self, service: str, namespace: str = "default") -> IssuedIdentity:
        """A leaf whose validity ended an hour ago."""
        now = dt.datetime.now(dt.UTC)
        return self.identity(service, namespace, lifetime=dt.timedelta(hours=-1),
                             not_before=now - dt.timedelta(hours=3))

    def write(self, directory: Path) -> None:
        """root.pem, intermediate.pem, intermediate-key.pem, bundle.pem (keys 0600)."""
        self.ca.save(directory)
