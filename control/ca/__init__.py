"""The mesh CA: root -> intermediate -> SPIFFE leaf, ECDSA P-256, with trust bundles."""

from control.ca.authority import (
    DEFAULT_LEAF_LIFETIME,
    CertificateAuthority,
    Clock,
    CsrRejected,
    IssuedCertificate,
    RootKeyUnavailable,
)
from control.ca.certificate_builders import uri_sans
from control.ca.key_files import generate_key, key_to_pem, write_private_key
from control.ca.spiffe_id import SpiffeId, SpiffeIdError

__all__ = [
    "DEFAULT_LEAF_LIFETIME",
    "CertificateAuthority",
    "Clock",
    "CsrRejected",
    "IssuedCertificate",
    "RootKeyUnavailable",
    "SpiffeId",
    "SpiffeIdError",
    "generate_key",
    "key_to_pem",
    "uri_sans",
    "write_private_key",
]
