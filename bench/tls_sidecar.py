"""One sidecar speaking mTLS with certificates from PEM files, for bench/proxy.py.

    python bench/tls_sidecar.py --config sidecar.yaml --tls DIR

``DIR`` holds ``chain.pem`` (leaf first), ``key.pem`` and ``bundle.pem`` (the
roots), as ``control.testing.TestCA`` issues them. The inbound listener
terminates mTLS (a client certificate chaining to the bundle is required) and
connections to other sidecars present the same identity, as a mesh sidecar
does after bootstrap, without the control plane. Runs on uvloop until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy.config import load_sidecar_config
from proxy.identity.tls_contexts import IdentityMaterial, client_context, server_context
from proxy.sidecar import Sidecar


async def run(config_path: str, tls: Path) -> None:
    material = IdentityMaterial((tls / "chain.pem").read_bytes(), (tls / "key.pem").read_bytes(),
                                (tls / "bundle.pem").read_bytes())
    sidecar = Sidecar(load_sidecar_config(config_path), inbound_ssl=server_context(material),
                      upstream_ssl=client_context(material))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await sidecar.start()
        gc.freeze()  # as proxy.sidecar.run_sidecar: start-up objects out of collections
        await stop.wait()
    finally:
        await sidecar.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--tls", required=True, type=Path, help="chain.pem, key.pem, bundle.pem")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run(args.config, args.tls))


if __name__ == "__main__":
    main()
