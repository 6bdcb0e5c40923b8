"""Proxy-side identity values: renewal timing, revocation checks, TLS state."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from control.testing import TestCA
from proxy.identity.peer_identity import NoIdentity, PeerIdentity, identity_of_certificate
from proxy.identity.revocation_list import RevocationList
from proxy.identity.rotation import renewal_delay
from proxy.identity.tls_contexts import IdentityMaterial


def test_renewal_at_half_life_within_the_jitter():
    ca = TestCA()
    start = dt.datetime.now(dt.UTC)
    issued = ca.identity("a", lifetime=dt.timedelta(hours=24), not_before=start)
    material = IdentityMaterial(issued.chain_pem, issued.key_pem, issued.bundle_pem)
    now = material.not_before.timestamp()  # certificates keep whole seconds
    life = material.not_after.timestamp() - now
    assert life == 24 * 3600
    assert renewal_delay(material, now, rng=lambda: 0.5) == life / 2
    assert renewal_delay(material, now, rng=lambda: 0.0) == pytest.approx(life / 2 * 0.9)
    assert renewal_delay(material, now, rng=lambda: 1.0) == pytest.approx(life / 2 * 1.1)
    assert renewal_delay(material, now + life, rng=lambda: 0.5) == 0.0


def test_revocation_list_refuses_by_serial_or_identity_only_identities():
    peer = PeerIdentity("spiffe://t/ns/d/sa/a", "ab12")
    assert RevocationList(1, serials=frozenset({"ab12"})).refuses(peer)
    assert RevocationList(1, identities=frozenset({peer.spiffe_id})).refuses(peer)
    assert not RevocationList(1, serials=frozenset({"ff"})).refuses(peer)
    assert not RevocationList(1, serials=frozenset({"ab12"})).refuses(NoIdentity("disabled"))
    assert RevocationList.from_json({"version": 3, "serials": ["AB12"]}).refuses(peer)


def test_identity_of_certificate_reads_spiffe_id_and_serial():
    issued = TestCA("mesh.test").identity("catalog", "shop")
    der = x509.load_pem_x509_certificates(issued.chain_pem)[0].public_bytes(Encoding.DER)
    state = identity_of_certificate(der)
    assert state == PeerIdentity("spiffe://mesh.test/ns/shop/sa/catalog", issued.serial_hex)
    assert state.service == "catalog"
