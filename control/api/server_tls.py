"""TLS contexts of the control plane side: its server and its admin clients.

The server asks for a client certificate but does not require one, because
bootstrap requests come without (they carry a token); every other endpoint
refuses a caller without a verified identity.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from control.ca import CertificateAuthority

CONTROL_SERVICE = "control"


def control_server_context(ca: CertificateAuthority, host: str) -> ssl.SSLContext:
    issued, key_pem = ca.issue_with_key(
        f"spiffe://{ca.trust_domain}/ns/meshlens/sa/{CONTROL_SERVICE}",
        dns_names=tuple(dict.fromkeys(("localhost", "127.0.0.1", host))))
    return mtls_context(ssl.PROTOCOL_TLS_SERVER, issued.chain_pem, key_pem,
                        ca.trust_bundle_pem())


def mtls_context(protocol: int, chain_pem: bytes, key_pem: bytes,
                 bundle_pem: bytes) -> ssl.SSLContext:
    ctx = ssl.SSLContext(protocol)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if protocol == ssl.PROTOCOL_TLS_SERVER:
        ctx.verify_mode = ssl.CERT_OPTIONAL
    else:
        ctx.check_hostname = False  # the control plane is known by its SPIFFE ID
        ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=bundle_pem.decode("ascii"))
    with tempfile.TemporaryDirectory(prefix="meshlens-control-") as directory:
        chain, key = Path(directory) / "chain.pem", Path(directory) / "key.pem"
        chain.write_bytes(chain_pem)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key_pem)
        finally:
            os.close(fd)
        ctx.load_cert_chain(chain, key)
    return ctx
