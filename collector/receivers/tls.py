"""TLS for the OTLP receivers: the configured PEM files, read and checked once.

`load_server_tls` reads the certificate chain, its key and the optional client
CA, and reports every problem at once naming the option and the file
(`collector.tls.key_file: '/etc/x/key.pem' does not belong to the certificate in
'/etc/x/cert.pem'`), so a bad path stops the collector before it listens
instead of failing each handshake later. The result serves both receivers:
an `ssl.SSLContext` for OTLP/HTTP (aiohttp) and grpc server credentials for
OTLP/gRPC. With a client CA, clients must present a certificate it signed (mTLS).
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from collector.config import CollectorConfigError, TlsServerConfig

log = logging.getLogger(__name__)

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True, slots=True)
class ServerTls:
    ssl_context: ssl.SSLContext
    grpc_credentials: grpc.ServerCredentials
    mutual: bool

    @property
    def mode(self) -> str:
        """How the receivers speak: "tls", or "mtls" when clients must show a certificate."""
        return "mtls" if self.mutual else "tls"


def _read(problems: list[str], option: str, path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        problems.append(f"{option}: cannot read {path!r}: {exc.strerror or exc}")
        return None


def _certificates(
    problems: list[str], option: str, path: str, data: bytes | None
) -> list[x509.Certificate]:
    if data is None:
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        problems.append(f"{option}: {path!r} holds no PEM certificate")
        return []


def _public_key_of(problems: list[str], option: str, path: str, data: bytes | None) -> bytes | None:
    """The public half of the PEM private key in `data`, to match it with the certificate."""
    if data is None:
        return None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # the key is encrypted and no password was given
        problems.append(f"{option}: {path!r} is encrypted; give an unencrypted key file")
        return None
    except ValueError:
        problems.append(f"{option}: {path!r} is not a PEM private key")
        return None
    return key.public_key().public_bytes(*_SPKI)


def load_server_tls(config: TlsServerConfig, where: str = "collector.tls") -> ServerTls:
    """Read and check the files of `config`; raises CollectorConfigError naming each problem."""
    problems: list[str] = []
    cert_option, key_option = f"{where}.cert_file", f"{where}.key_file"
    cert_pem = _read(problems, cert_option, config.cert_file)
    key_pem = _read(problems, key_option, config.key_file)
    chain = _certificates(problems, cert_option, config.cert_file, cert_pem)
    public_key = _public_key_of(problems, key_option, config.key_file, key_pem)
    client_ca: list[x509.Certificate] = []
    if config.client_ca_file is not None:
        option = f"{where}.client_ca_file"
        ca_data = _read(problems, option, config.client_ca_file)
        client_ca = _certificates(problems, option, config.client_ca_file, ca_data)
    leaf_key = chain[0].public_key().public_bytes(*_SPKI) if chain else None
    if None not in (leaf_key, public_key) and leaf_key != public_key:
        problems.append(
            f"{where}.key_file: {config.key_file!r} does not belong to the certificate "
            f"in {config.cert_file!r}"
        )
    if problems:
        raise CollectorConfigError(problems)
    assert cert_pem is not None and key_pem is not None
    if chain[0].not_valid_after_utc < dt.datetime.now(dt.UTC):
        log.warning(
            "%s.cert_file: the certificate in %r expired on %s; clients will refuse it",
            where, config.cert_file, chain[0].not_valid_after_utc.isoformat(),
        )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.cert_file, config.key_file)
    except (ssl.SSLError, OSError) as exc:  # whatever the checks above did not catch
        raise CollectorConfigError(
            [f"{where}.cert_file: {config.cert_file!r} with {config.key_file!r}: {exc}"]
        ) from None
    ca_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in client_ca)
    if client_ca:
        context.load_verify_locations(cadata=ca_pem.decode())
        context.verify_mode = ssl.CERT_REQUIRED
    credentials = grpc.ssl_server_credentials(
        [(key_pem, cert_pem)],
        root_certificates=ca_pem or None,
        require_client_auth=bool(client_ca),
    )
    return ServerTls(context, credentials, mutual=bool(client_ca))
