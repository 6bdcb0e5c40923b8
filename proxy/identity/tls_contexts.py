"""Immutable SSLContexts built from one identity: leaf chain, key and trust bundle.

A rotation builds new contexts and swaps the reference (see ``rotation``), so a
handshake always sees one consistent set. The one exception is the long-lived
upstream client context handed to connection pools: ``load_chain`` reloads its
certificate in place, which OpenSSL applies to new handshakes only.
Peer verification is OpenSSL's: the chain must reach a root of the bundle and
be within its validity; the SPIFFE ID is read from the verified leaf afterwards.
Hostnames are not checked: mesh identities are SPIFFE IDs, not DNS names.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from proxy.identity.peer_identity import spiffe_id_of


@dataclass(frozen=True, slots=True)
class IdentityMaterial:
    """What a proxy holds to speak mTLS: its chain (leaf first), its key, the roots."""

    chain_pem: bytes
    key_pem: bytes
    bundle_pem: bytes

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.chain_pem)[0]

    @property
    def spiffe_id(self) -> str:
        return spiffe_id_of(self.leaf) or ""

    @property
    def serial(self) -> str:
        return format(self.leaf.serial_number, "x")

    @property
    def issuer_key_id(self) -> str:
        """Hex key identifier of the CA key that signed the leaf (its AKI), or ""."""
        try:
            aki = self.leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        except x509.ExtensionNotFound:
            return ""
        return aki.value.key_identifier.hex() if aki.value.key_identifier else ""

    @property
    def not_before(self) -> dt.datetime:
        return self.leaf.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.leaf.not_valid_after_utc


def server_context(material: IdentityMaterial, *, require_client_cert: bool = True
                   ) -> ssl.SSLContext:
    """For inbound listeners; ``require_client_cert=False`` verifies a cert only if sent."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _common(ctx, material)
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def client_context(material: IdentityMaterial | None, bundle_pem: bytes | None = None
                   ) -> ssl.SSLContext:
    """For connections to other sidecars (or the control plane, before bootstrap without
    a material, with ``bundle_pem`` only)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if material is not None:
        _common(ctx, material)
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(cadata=(bundle_pem or b"").decode("ascii"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _common(ctx: ssl.SSLContext, material: IdentityMaterial) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=material.bundle_pem.decode("ascii"))
    load_chain(ctx, material)


def load_chain(ctx: ssl.SSLContext, material: IdentityMaterial) -> None:
    # ssl loads a certificate chain from files only: a private directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="meshlens-tls-") as directory:
        chain = Path(directory) / "chain.pem"
        key = Path(directory) / "key.pem"
        chain.write_bytes(material.chain_pem)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, material.key_pem)
        finally:
            os.close(fd)
        ctx.load_cert_chain(chain, key)
