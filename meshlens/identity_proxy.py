"""`meshlens proxy --control-url ...`: a sidecar on the mesh identity (mTLS).

The identity flags each read a ``MESHLENS_*`` variable when not given
(``--control-url`` reads ``MESHLENS_CONTROL_URL``). Without a control URL the
sidecar runs in plaintext as before; with one it bootstraps a certificate with
the service's token and runs :func:`proxy.identity.run_identity_sidecar`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.config import SidecarConfig

DEFAULT_TRUST_DOMAIN = "cluster.local"
_FLAGS = ("control_url", "bootstrap_token", "bootstrap_token_file", "trust_bundle", "trust_domain")


class ProxyIdentityError(ValueError):
    """The identity flags are incomplete or name files that cannot be read."""


@dataclass(frozen=True, slots=True)
class ProxyIdentity:
    control_url: str
    token: str
    bundle_pem: bytes
    trust_domain: str = DEFAULT_TRUST_DOMAIN


def proxy_identity(args: argparse.Namespace, env: Mapping[str, str]) -> ProxyIdentity | None:
    """The identity the flags (then the environment) ask for; None without a control URL."""
    given = {name: _flag_or_env(args, name, env) for name in _FLAGS}
    if args.bootstrap_token is not None or args.bootstrap_token_file is not None:
        # a token flag wins over both token variables (they are one setting)
        given["bootstrap_token"] = _flag_or_env(args, "bootstrap_token", {})
        given["bootstrap_token_file"] = _flag_or_env(args, "bootstrap_token_file", {})
    if given["control_url"] is None:
        extra = [f"--{n.replace('_', '-')}" for n, v in given.items() if v is not None]
        if extra:
            verb = "needs" if len(extra) == 1 else "need"
            raise ProxyIdentityError(f"{', '.join(extra)} {verb} --control-url")
        return None
    problems: list[str] = []
    if given["bootstrap_token"] is not None and given["bootstrap_token_file"] is not None:
        problems.append("give --bootstrap-token or --bootstrap-token-file, not both")
    token = given["bootstrap_token"]
    if token is None and given["bootstrap_token_file"] is not None:
        token = (
            _read(Path(given["bootstrap_token_file"]), "--bootstrap-token-file", problems)
            .decode("utf-8", "replace")
            .strip()
        )
    if not token:
        problems.append("--control-url needs --bootstrap-token or --bootstrap-token-file")
    bundle = b""
    if given["trust_bundle"] is None:
        problems.append(
            "--control-url needs --trust-bundle (the control plane's <state>/ca/bundle.pem)"
        )
    else:
        bundle = _read(Path(given["trust_bundle"]), "--trust-bundle", problems)
        if bundle and b"-----BEGIN CERTIFICATE-----" not in bundle:
            problems.append(f"--trust-bundle: {given['trust_bundle']} holds no PEM certificate")
    if problems:
        raise ProxyIdentityError("; ".join(problems))
    return ProxyIdentity(
        given["control_url"], token or "", bundle, given["trust_domain"] or DEFAULT_TRUST_DOMAIN
    )


async def run_identity_proxy(config: SidecarConfig, identity: ProxyIdentity) -> int:
    """Bootstrap and run the sidecar on mTLS until SIGTERM or SIGINT; the exit code."""
    import aiohttp

    from proxy.control_client import ControlPlaneError
    from proxy.identity import run_identity_sidecar

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await run_identity_sidecar(
            config,
            identity.control_url,
            token=identity.token,
            bundle_pem=identity.bundle_pem,
            trust_domain=identity.trust_domain,
            stop=stop,
        )
    except ControlPlaneError as exc:
        print(f"meshlens proxy: control plane {identity.control_url}: {exc}", file=sys.stderr)
        return 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(
            f"meshlens proxy: cannot reach the control plane {identity.control_url}: {exc}",
            file=sys.stderr,
        )
        return 1
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return 0


def _flag_or_env(args: argparse.Namespace, name: str, env: Mapping[str, str]) -> str | None:
    value = getattr(args, name, None)
    if value is None:
        value = env.get("MESHLENS_" + name.upper())
    if value is None or not str(value).strip():
        return None
    return str(value).strip()


def _read(path: Path, flag: str, problems: list[str]) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        problems.append(f"{flag}: cannot read {path}: {exc.strerror or exc}")
        return b""
