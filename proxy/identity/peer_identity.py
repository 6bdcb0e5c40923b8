"""TLS state of a connection as a value: an established peer identity, or why not.

Never a bool: the reason (``no_tls_from_remote``, ``disabled``, ...) is what a
metric label or a log line needs.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Literal

from cryptography import x509

NoIdentityReason = Literal["no_tls_from_remote", "disabled", "no_client_cert",
                           "no_spiffe_id", "revoked"]


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    spiffe_id: str
    serial: str  # lowercase hex, as the control plane lists it

    @property
    def service(self) -> str:
        return self.spiffe_id.rsplit("/sa/", 1)[-1]


@dataclass(frozen=True, slots=True)
class NoIdentity:
    reason: NoIdentityReason


TlsState = PeerIdentity | NoIdentity


def spiffe_id_of(cert: x509.Certificate) -> str | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = [u for u in san.value.get_values_for_type(x509.UniformResourceIdentifier)
            if u.startswith("spiffe://")]
    return uris[0] if len(uris) == 1 else None


def identity_of_certificate(der: bytes) -> TlsState:
    cert = x509.load_der_x509_certificate(der)
    spiffe_id = spiffe_id_of(cert)
    if spiffe_id is None:
        return NoIdentity("no_spiffe_id")
    return PeerIdentity(spiffe_id, format(cert.serial_number, "x"))


def identity_of_ssl_object(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> TlsState:
    """The verified peer's identity; OpenSSL has already checked chain and validity."""
    if ssl_object is None:
        return NoIdentity("no_tls_from_remote")
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return NoIdentity("no_client_cert")
    return identity_of_certificate(der)
