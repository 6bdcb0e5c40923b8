"""`meshlens proxy` identity flags: each from the command line or MESHLENS_*."""

import argparse
from pathlib import Path

import pytest

from control.testing import TestCA
from meshlens.cli import build_parser
from meshlens.identity_proxy import ProxyIdentityError, proxy_identity


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["proxy", "--config", "sidecar.yaml", *argv])


def test_without_a_control_url_the_sidecar_stays_plaintext() -> None:
    assert proxy_identity(parse(), {}) is None
    with pytest.raises(ProxyIdentityError, match="--bootstrap-token needs --control-url"):
        proxy_identity(parse("--bootstrap-token", "t"), {})


def test_flags_and_environment(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(TestCA("cluster.local").ca.trust_bundle_pem())
    token = tmp_path / "catalog.token"
    token.write_text("s3cret\n")
    env = {"MESHLENS_CONTROL_URL": "https://control:15010",
           "MESHLENS_BOOTSTRAP_TOKEN_FILE": str(token), "MESHLENS_TRUST_BUNDLE": str(bundle)}
    identity = proxy_identity(parse(), env)
    assert identity is not None
    assert (identity.control_url, identity.token, identity.trust_domain) == (
        "https://control:15010", "s3cret", "cluster.local")
    assert identity.bundle_pem == bundle.read_bytes()
    flagged = proxy_identity(parse("--control-url", "https://c:1", "--bootstrap-token", "x",
                                   "--trust-domain", "mesh.test"), env)
    assert flagged is not None
    assert (flagged.control_url, flagged.token, flagged.trust_domain) == (
        "https://c:1", "x", "mesh.test")


def test_every_missing_piece_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProxyIdentityError) as err:
        proxy_identity(parse("--control-url", "https://c:1"), {})
    assert "--bootstrap-token" in str(err.value) and "--trust-bundle" in str(err.value)
    with pytest.raises(ProxyIdentityError, match="cannot read"):
        proxy_identity(parse("--control-url", "https://c:1", "--bootstrap-token", "x",
                             "--trust-bundle", str(tmp_path / "missing.pem")), {})
