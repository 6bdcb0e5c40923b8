"""Who is calling the control API: the SPIFFE ID of a verified client certificate."""

from __future__ import annotations

from aiohttp import web
from cryptography import x509

from control.ca import uri_sans


def caller_spiffe_id(request: web.Request) -> str | None:
    """The caller's SPIFFE ID when it presented a certificate (TLS verified the chain)."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    uris = [u for u in uri_sans(cert) if u.startswith("spiffe://")]
    return uris[0] if len(uris) == 1 else None


def caller_serial(request: web.Request) -> str:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return format(x509.load_der_x509_certificate(der).serial_number, "x") if der else ""
