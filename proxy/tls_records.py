"""Over TLS, one record per message: when a transport wants a message's pieces joined.

A TLS transport (uvloop's and asyncio's alike) encrypts every piece handed to one
``writelines`` as a TLS record of its own. A response head and the body that came
with it would be two records, each costing an encryption here, a decryption at
the peer and OpenSSL's per-record work on both sides (in OpenSSL 3 mostly
parameter lookups, more than the AES-GCM of a small message) — more than the
copy of joining them. A plain socket sends the pieces in one system call without
joining them, so only TLS transports get them joined.
"""

from __future__ import annotations

import asyncio


def joins_pieces(transport: asyncio.BaseTransport) -> bool:
    """Whether ``transport`` should get a message's pieces joined into one write."""
    return transport.get_extra_info("ssl_object") is not None
