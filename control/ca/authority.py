"""The certificate authority: root -> intermediate -> workload leaf.

The root is generated or brought (``from_root_files``); the intermediate signs
every leaf, so the root key can stay offline. ``trust_roots`` may hold several
roots: during a root rotation proxies trust both the old and the new one.
``rotate_intermediate`` switches signing to a new intermediate under the same
root; it needs the root key for that moment only.
The key of a workload never comes here: it sends a CSR, the CA checks the CSR's
signature and that it asks for exactly the identity it is entitled to.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from control.ca import certificate_builders as build
from control.ca.key_files import (
    PrivateKey,
    cert_to_pem,
    generate_key,
    key_to_pem,
    load_certificates,
    load_private_key,
    write_certificate,
    write_private_key,
)
from control.ca.spiffe_id import SpiffeId

Clock = Callable[[], float]
DEFAULT_LEAF_LIFETIME = dt.timedelta(hours=24)
ROOT_LIFETIME = dt.timedelta(days=3650)
INTERMEDIATE_LIFETIME = dt.timedelta(days=365)


class CsrRejected(ValueError):
    """The CSR is malformed, badly signed, or asks for an identity it may not have."""


class RootKeyUnavailable(RuntimeError):
    """A new intermediate needs the root's key, and this CA cannot read it."""


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    spiffe_id: str
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    chain_pem: bytes  # leaf then intermediate

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "x")


class CertificateAuthority:
    def __init__(self, trust_domain: str, root: x509.Certificate,
                 intermediate: x509.Certificate, intermediate_key: PrivateKey, *,
                 extra_roots: tuple[x509.Certificate, ...] = (),
                 clock: Clock = time.time, root_key: PrivateKey | None = None,
                 directory: Path | None = None) -> None:
        self.trust_domain = trust_domain
        self.root = root
        self.intermediate = intermediate
        self._intermediate_key = intermediate_key
        self.trust_roots: tuple[x509.Certificate, ...] = (root, *extra_roots)
        self._clock = clock
        self._root_key = root_key  # None: on disk in ``directory`` (read when needed), or offline
        self.directory = directory  # where this CA is kept; rotations are saved there

    # creation

    @classmethod
    def create(cls, trust_domain: str, *, clock: Clock = time.time) -> CertificateAuthority:
        """A fresh root and intermediate, in memory."""
        root_key = generate_key()
        now = _utc(clock())
        root = build.build_root(root_key, trust_domain, now, ROOT_LIFETIME)
        return cls._with_new_intermediate(trust_domain, root, root_key, clock)

    @classmethod
    def _with_new_intermediate(cls, trust_domain: str, root: x509.Certificate,
                               root_key: PrivateKey, clock: Clock) -> CertificateAuthority:
        key = generate_key()
        cert = build.build_intermediate(key, root, root_key, trust_domain, _utc(clock()),
                                        INTERMEDIATE_LIFETIME)
        return cls(trust_domain, root, cert, key, clock=clock, root_key=root_key)

    @classmethod
    def from_root_files(cls, trust_domain: str, root_cert: Path, root_key: Path, *,
                        clock: Clock = time.time) -> CertificateAuthority:
        """Bring your own root: a new intermediate is signed by it."""
        root = load_certificates(root_cert)[0]
        return cls._with_new_intermediate(trust_domain, root, load_private_key(root_key), clock)

    @classmethod
    def load_or_create(cls, directory: Path, trust_domain: str, *,
                       clock: Clock = time.time) -> CertificateAuthority:
        """The CA kept in ``directory`` (root.pem, intermediate.pem/-key.pem, bundle.pem).

        With only root.pem and root-key.pem there (your own root), an intermediate is
        made and saved. With nothing there, a whole new CA is. The root key is not
        needed after that and may be moved offline.
        """
        files = _Files(directory)
        if files.intermediate.exists() and files.intermediate_key.exists():
            roots = load_certificates(files.bundle if files.bundle.exists() else files.root)
            ca = cls(trust_domain, load_certificates(files.root)[0],
                     load_certificates(files.intermediate)[0],
                     load_private_key(files.intermediate_key), clock=clock,
                     directory=directory)
            ca.trust_roots = tuple(roots) or (ca.root,)
            return ca
        if files.root.exists() and files.root_key.exists():
            ca = cls.from_root_files(trust_domain, files.root, files.root_key, clock=clock)
        else:
            root_key = generate_key()
            root = build.build_root(root_key, trust_domain, _utc(clock()), ROOT_LIFETIME)
            write_private_key(files.root_key, root_key)
            write_certificate(files.root, root)
            ca = cls._with_new_intermediate(trust_domain, root, root_key, clock)
        ca._root_key = None  # on disk, where it may be taken offline from now on
        ca.directory = directory
        ca.save(directory)
        return ca

    def save(self, directory: Path) -> None:
        files = _Files(directory)
        write_certificate(files.root, self.root)
        write_private_key(files.intermediate_key, self._intermediate_key)
        write_certificate(files.intermediate, self.intermediate)
        write_certificate(files.bundle, *self.trust_roots)

    # intermediate rotation

    @property
    def signing_key_id(self) -> str:
        """The key identifier of the intermediate signing now (the leaves' AKI)."""
        return build.key_id(self.intermediate)

    def rotate_intermediate(self) -> x509.Certificate:
        """Sign every leaf from now on with a new intermediate under the current root;
        returns the one it replaces.

        The trust bundle (roots) does not change, and each leaf carries its
        intermediate in its chain, so leaves of the old intermediate keep verifying
        until they expire. Saved to ``directory`` when the CA has one.
        """
        root_key = self._readable_root_key()
        key = generate_key()
        cert = build.build_intermediate(key, self.root, root_key, self.trust_domain,
                                        _utc(self._clock()), INTERMEDIATE_LIFETIME)
        previous = self.intermediate
        self.intermediate, self._intermediate_key = cert, key
        if self.directory is not None:
            self.save(self.directory)
        return previous

    def _readable_root_key(self) -> PrivateKey:
        key = self._root_key
        path = _Files(self.directory).root_key if self.directory is not None else None
        if key is None and path is not None and path.exists():
            key = load_private_key(path)
        if key is None:
            where = f"in {path}" if path is not None else "in this CA (made without one)"
            raise RootKeyUnavailable(f"the root key is not {where}; put the root's key "
                                     "there (mode 0600) to rotate the intermediate")
        if _spki(key.public_key()) != _spki(self.root.public_key()):
            raise RootKeyUnavailable(f"{path or 'the root key'} is not the key of the root")
        return key

    # trust bundle

    def trust_bundle_pem(self) -> bytes:
        return b"".join(cert_to_pem(c) for c in self.trust_roots)

    def add_trust_root(self, root: x509.Certificate) -> None:
        """Start an overlap period: proxies trust ``root`` as well as the current ones."""
        if root not in self.trust_roots:
            self.trust_roots = (*self.trust_roots, root)

    def remove_trust_root(self, root: x509.Certificate) -> None:
        """End the overlap: the old root is no longer trusted."""
        self.trust_roots = tuple(r for r in self.trust_roots if r != root)

    # issuance

    def sign_csr(self, csr_pem: bytes, expected: SpiffeId, *,
                 lifetime: dt.timedelta = DEFAULT_LEAF_LIFETIME) -> IssuedCertificate:
        """A leaf for ``expected`` if the CSR is well signed and asks for exactly it."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise CsrRejected(f"not a PEM CSR: {exc}") from exc
        if not csr.is_signature_valid:
            raise CsrRejected("CSR signature does not verify")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or \
                not isinstance(public_key.curve, ec.SECP256R1):
            raise CsrRejected("CSR key must be ECDSA P-256")
        requested = build.uri_sans(csr)
        if requested != [str(expected)]:
            raise CsrRejected(f"CSR asks for {requested or 'no identity'}, token allows "
                              f"{expected}")
        return self.issue(public_key, str(expected), lifetime=lifetime)

    def issue(self, public_key: ec.EllipticCurvePublicKey, spiffe_id: str, *,
              lifetime: dt.timedelta = DEFAULT_LEAF_LIFETIME, not_before: dt.datetime | None = None,
              dns_names: tuple[str, ...] = ()) -> IssuedCertificate:
        now = _utc(self._clock())
        start = not_before or now - build.BACKDATE
        leaf = build.build_leaf(public_key, spiffe_id, self.intermediate,
                                self._intermediate_key, start, now + lifetime, dns_names)
        return IssuedCertificate(spiffe_id=spiffe_id, serial=leaf.serial_number,
                                 not_before=leaf.not_valid_before_utc,
                                 not_after=leaf.not_valid_after_utc,
                                 chain_pem=cert_to_pem(leaf) + cert_to_pem(self.intermediate))

    def issue_with_key(self, spiffe_id: str, *,
                       lifetime: dt.timedelta = DEFAULT_LEAF_LIFETIME,
                       not_before: dt.datetime | None = None,
                       dns_names: tuple[str, ...] = ()) -> tuple[IssuedCertificate, bytes]:
        """A key made here plus its leaf: for the control plane's own serving cert and tests."""
        key = generate_key()
        issued = self.issue(key.public_key(), spiffe_id, lifetime=lifetime,
                            not_before=not_before, dns_names=dns_names)
        return issued, key_to_pem(key)


class _Files:
    def __init__(self, directory: Path) -> None:
        self.root = directory / "root.pem"
        self.root_key = directory / "root-key.pem"
        self.intermediate = directory / "intermediate.pem"
        self.intermediate_key = directory / "intermediate-key.pem"
        self.bundle = directory / "bundle.pem"


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
