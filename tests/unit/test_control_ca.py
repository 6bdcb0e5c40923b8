"""The CA: chain shape, CSR checks, key files, bring-your-own root, trust bundles."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from control.ca import CertificateAuthority, CsrRejected, RootKeyUnavailable, SpiffeId, uri_sans
from control.ca.certificate_builders import build_root
from control.ca.key_files import generate_key, write_certificate, write_private_key
from control.certificate_inventory import CertificateInventory
from proxy.identity.csr import make_key_and_csr

FRONTEND = SpiffeId("mesh.test", "default", "frontend")


def chain_of(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


def test_leaf_from_csr_carries_the_spiffe_id_and_chains_to_the_root():
    ca = CertificateAuthority.create("mesh.test")
    _key, csr = make_key_and_csr(str(FRONTEND))
    issued = ca.sign_csr(csr, FRONTEND)
    leaf, intermediate = chain_of(issued.chain_pem)
    assert uri_sans(leaf) == [str(FRONTEND)]
    assert leaf.issuer == intermediate.subject and intermediate.issuer == ca.root.subject
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(ca.root)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(hours=23.9)
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_csr_for_another_identity_is_rejected():
    ca = CertificateAuthority.create("mesh.test")
    _key, csr = make_key_and_csr("spiffe://mesh.test/ns/default/sa/admin")
    with pytest.raises(CsrRejected, match="token allows"):
        ca.sign_csr(csr, FRONTEND)


def test_csr_with_a_bad_signature_is_rejected():
    ca = CertificateAuthority.create("mesh.test")
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .add_extension(x509.SubjectAlternativeName(
               [x509.UniformResourceIdentifier(str(FRONTEND))]), critical=True)
           .sign(key, hashes.SHA256()))
    # swap in another public key: the signature no longer verifies
    from cryptography.hazmat.primitives import serialization
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    old = key.public_key().public_bytes(serialization.Encoding.X962,
                                        serialization.PublicFormat.UncompressedPoint)
    new = other.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    tampered = bytes(der).replace(old, new)
    pem = x509.load_der_x509_csr(tampered).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CsrRejected, match="signature"):
        ca.sign_csr(pem, FRONTEND)


def test_ca_on_disk_keeps_keys_0600_and_loads_back(tmp_path: Path):
    ca = CertificateAuthority.load_or_create(tmp_path, "mesh.test")
    for name in ("root-key.pem", "intermediate-key.pem"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    again = CertificateAuthority.load_or_create(tmp_path, "mesh.test")
    assert again.root == ca.root and again.intermediate == ca.intermediate


def test_bring_your_own_root(tmp_path: Path):
    root_key = generate_key()
    root = build_root(root_key, "mesh.test", dt.datetime.now(dt.UTC), dt.timedelta(days=30))
    write_certificate(tmp_path / "root.pem", root)
    write_private_key(tmp_path / "root-key.pem", root_key)
    ca = CertificateAuthority.load_or_create(tmp_path, "mesh.test")
    assert ca.root == root
    ca.intermediate.verify_directly_issued_by(root)
    assert (tmp_path / "intermediate.pem").exists()


def test_trust_bundle_holds_old_and_new_roots_during_overlap():
    old, new = CertificateAuthority.create("mesh.test"), CertificateAuthority.create("mesh.test")
    old.add_trust_root(new.root)
    assert chain_of(old.trust_bundle_pem()) == [old.root, new.root]
    old.remove_trust_root(old.root)
    assert chain_of(old.trust_bundle_pem()) == [new.root]


def test_inventory_statuses_and_revocation_versions(tmp_path: Path):
    ca = CertificateAuthority.create("mesh.test")
    inventory = CertificateInventory(tmp_path / "certs.json")
    a = ca.issue_with_key(str(FRONTEND))[0]
    b = ca.issue_with_key(str(FRONTEND), lifetime=dt.timedelta(hours=-1),
                          not_before=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))[0]
    inventory.add(a, "issuance")
    inventory.add(b, "renewal")
    assert [r.status for r in inventory.rows()] == ["valid", "expired"]
    assert inventory.revoke(serial=a.serial_hex.upper()) and inventory.version == 1
    assert not inventory.revoke(serial=a.serial_hex)  # twice is no change
    assert [r.status for r in CertificateInventory(tmp_path / "certs.json").rows()] == [
        "revoked", "expired"]


def aki_of(cert: x509.Certificate) -> str:
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    return aki.key_identifier.hex()


def test_rotated_intermediate_signs_new_leaves_and_old_leaves_still_chain():
    ca = CertificateAuthority.create("mesh.test")
    old_leaf, old_intermediate = chain_of(ca.issue_with_key(str(FRONTEND))[0].chain_pem)
    bundle = ca.trust_bundle_pem()
    assert ca.rotate_intermediate() == old_intermediate
    new_leaf, new_intermediate = chain_of(ca.issue_with_key(str(FRONTEND))[0].chain_pem)
    assert new_intermediate == ca.intermediate != old_intermediate
    assert new_intermediate.subject != old_intermediate.subject  # even within one second
    new_intermediate.verify_directly_issued_by(ca.root)
    new_leaf.verify_directly_issued_by(new_intermediate)
    old_leaf.verify_directly_issued_by(old_intermediate)  # its own chain, same root
    old_intermediate.verify_directly_issued_by(ca.root)
    assert ca.trust_bundle_pem() == bundle  # roots only: nothing for the proxies to change
    assert aki_of(new_leaf) == ca.signing_key_id != aki_of(old_leaf)


def test_rotation_on_disk_reads_the_root_key_then_and_saves_the_new_intermediate(
        tmp_path: Path):
    ca = CertificateAuthority.load_or_create(tmp_path, "mesh.test")
    previous = ca.intermediate
    ca.rotate_intermediate()
    again = CertificateAuthority.load_or_create(tmp_path, "mesh.test")
    assert again.intermediate == ca.intermediate != previous
    assert again.signing_key_id == ca.signing_key_id
    assert stat.S_IMODE((tmp_path / "intermediate-key.pem").stat().st_mode) == 0o600
    (tmp_path / "root-key.pem").rename(tmp_path / "offline-root-key.pem")
    with pytest.raises(RootKeyUnavailable, match=r"root-key\.pem"):
        again.rotate_intermediate()
    write_private_key(tmp_path / "root-key.pem", generate_key())  # not the root's
    with pytest.raises(RootKeyUnavailable, match="not the key of the root"):
        again.rotate_intermediate()
    assert again.intermediate == ca.intermediate  # a failed rotation changes nothing
