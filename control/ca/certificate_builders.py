"""X.509 builders for the three tiers: root, intermediate, workload leaf (X.509-SVID)."""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from control.ca.key_files import PrivateKey

# A little backdating absorbs clock skew between the CA and the proxies.
BACKDATE = dt.timedelta(minutes=5)


def _name(trust_domain: str, common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=True, crl_sign=True, encipher_only=False,
                         decipher_only=False)


def build_root(key: PrivateKey, trust_domain: str, now: dt.datetime,
               lifetime: dt.timedelta) -> x509.Certificate:
    name = _name(trust_domain, f"MeshLens root {now:%Y-%m-%d %H:%M:%S}")
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))


def build_intermediate(key: PrivateKey, issuer: x509.Certificate, issuer_key: PrivateKey,
                       trust_domain: str, now: dt.datetime,
                       lifetime: dt.timedelta) -> x509.Certificate:
    not_after = min(now + lifetime, issuer.not_valid_after_utc)
    serial = x509.random_serial_number()
    # the serial in the name tells apart two intermediates made in the same second
    name = f"MeshLens intermediate {now:%Y-%m-%d %H:%M:%S} {serial:x}"[:64]
    return (x509.CertificateBuilder()
            .subject_name(_name(trust_domain, name))
            .issuer_name(issuer.subject).public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - BACKDATE).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256()))


def build_leaf(public_key: ec.EllipticCurvePublicKey, spiffe_id: str, issuer: x509.Certificate,
               issuer_key: PrivateKey, not_before: dt.datetime, not_after: dt.datetime,
               dns_names: tuple[str, ...] = ()) -> x509.Certificate:
    """A workload leaf: the SPIFFE ID as its only URI SAN, client and server auth."""
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(spiffe_id)]
    for dns in dns_names:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(dns)))
        except ValueError:
            names.append(x509.DNSName(dns))
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=True,
                          key_cert_sign=False, crl_sign=False, encipher_only=False,
                          decipher_only=False)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        spiffe_id.rsplit("/", 1)[-1])]))
            .issuer_name(issuer.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(min(not_after,
                                                              issuer.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256()))


def key_id(cert: x509.Certificate) -> str:
    """Hex of the key identifier of ``cert``'s key: what the leaves it signs carry as
    their authority key identifier."""
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest.hex()


def uri_sans(cert_or_csr: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    try:
        san = cert_or_csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return san.value.get_values_for_type(x509.UniformResourceIdentifier)
