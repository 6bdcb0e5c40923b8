"""The control plane's subcommands: config validate, control, certs, audit.

``certs`` lists, revokes, and rotates the CA's intermediate (``rotate-intermediate``).

``add_control_commands(sub)`` registers them on the ``meshlens`` parser and
``run_control_command(args)`` runs one (None when the command is not ours), so
the CLI needs two lines. Each flag also reads a ``MESHLENS_*`` variable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from control.mesh_config import validate_command

if TYPE_CHECKING:
    from control.api import AdminClient

DEFAULT_STATE_DIR = ".meshlens/control"
DEFAULT_URL = "https://127.0.0.1:15010"


def add_control_commands(sub: argparse._SubParsersAction,
                         env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    state = {"dest": "ctl_state_dir", "default": env.get("MESHLENS_CONTROL_STATE_DIR",
                                                          DEFAULT_STATE_DIR),
             "help": "CA, inventory and audit.jsonl [env MESHLENS_CONTROL_STATE_DIR]"}
    mesh = {"dest": "ctl_mesh", "default": env.get("MESHLENS_MESH", "mesh.yaml"),
            "help": "mesh.yaml [env MESHLENS_MESH]"}

    config = sub.add_parser("config", help="mesh configuration")
    config.add_argument("ctl_config_action", choices=["validate"], metavar="validate")
    config.add_argument("ctl_file", metavar="FILE")

    control = sub.add_parser("control", help="run the control plane API (CA, config, audit)")
    control.add_argument("--mesh", **mesh)
    control.add_argument("--state-dir", **state)
    control.add_argument("--control-host", dest="ctl_host",
                         default=env.get("MESHLENS_CONTROL_HOST", "127.0.0.1"))
    control.add_argument("--control-port", dest="ctl_port", type=int,
                         default=int(env.get("MESHLENS_CONTROL_PORT", "15010")))
    control.add_argument("--audit-storage", dest="ctl_storage",
                         default=env.get("MESHLENS_AUDIT_STORAGE"),
                         help="also write audit events to this store (a ClickHouse URL)")

    certs = sub.add_parser("certs", help="issued certificates: list, revoke; "
                                         "rotate-intermediate (sign with a new one)")
    certs.add_argument("ctl_certs_action", choices=["list", "revoke", "rotate-intermediate"])
    certs.add_argument("--state-dir", **state)
    certs.add_argument("--mesh", **mesh)
    certs.add_argument("--control-url", dest="ctl_url",
                       default=env.get("MESHLENS_CONTROL_URL", DEFAULT_URL))
    certs.add_argument("--serial", dest="ctl_serial")
    certs.add_argument("--identity", dest="ctl_identity")
    certs.add_argument("--reason", dest="ctl_reason", default="")

    audit = sub.add_parser("audit", help="show the audit log (newest first)")
    audit.add_argument("--state-dir", **state)
    audit.add_argument("--audit-storage", dest="ctl_storage",
                       default=env.get("MESHLENS_AUDIT_STORAGE"))
    audit.add_argument("--limit", dest="ctl_limit", type=int, default=50)
    audit.add_argument("--action", dest="ctl_action")
    audit.add_argument("--identity", dest="ctl_identity")


def run_control_command(args: argparse.Namespace) -> int | None:
    command = args.command
    if command == "config":
        return validate_command(args.ctl_file)
    if command == "control":
        return asyncio.run(_serve(args))
    if command == "certs" and args.ctl_certs_action == "list":
        return certs_list(Path(args.ctl_state_dir))
    if command == "certs" and args.ctl_certs_action == "rotate-intermediate":
        return asyncio.run(_rotate_intermediate(args))
    if command == "certs":
        return asyncio.run(_revoke(args))
    if command == "audit":
        return audit_show(Path(args.ctl_state_dir), args.ctl_storage, args.ctl_limit,
                          args.ctl_action, args.ctl_identity)
    return None


def certs_list(state_dir: Path) -> int:
    from control.certificate_inventory import CertificateInventory

    rows = CertificateInventory(state_dir / "certificates.json").rows()
    print(f"{'IDENTITY':56s} {'SERIAL':42s} {'NOT AFTER':26s} STATUS")
    for r in rows:
        print(f"{r.spiffe_id:56s} {r.serial:42s} {r.not_after[:25]:26s} {r.status}")
    return 0


async def _revoke(args: argparse.Namespace) -> int:
    if not (args.ctl_serial or args.ctl_identity):
        print("meshlens certs revoke: give --serial or --identity", file=sys.stderr)
        return 2
    client = _admin_client(args)
    if client is None:
        return 2
    result = await client.revoke(serial=args.ctl_serial, identity=args.ctl_identity,
                                 reason=args.ctl_reason)
    print(json.dumps(result))
    return 0


async def _rotate_intermediate(args: argparse.Namespace) -> int:
    """A new intermediate under the current root signs from now on (the control plane
    needs the root key in its CA directory for this); proxies renew onto it."""
    client = _admin_client(args)
    if client is None:
        return 2
    try:
        result = await client.rotate_intermediate(reason=args.ctl_reason)
    except RuntimeError as exc:  # e.g. 409: the root key is offline
        print(f"meshlens certs rotate-intermediate: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


def _admin_client(args: argparse.Namespace) -> AdminClient | None:
    from control.api import AdminClient
    from control.mesh_config import MeshConfigError, load_mesh_config

    try:
        config = load_mesh_config(args.ctl_mesh)
    except MeshConfigError as exc:
        print(exc, file=sys.stderr)
        return None
    return AdminClient.for_local_ca(args.ctl_url, Path(args.ctl_state_dir) / "ca",
                                    config.trust_domain)


def audit_show(state_dir: Path, storage_url: str | None, limit: int, action: str | None,
               identity: str | None) -> int:
    from control.audit import read_audit_events, read_json_lines

    if storage_url:
        from storage import open_store

        with open_store(storage_url) as store:
            events = read_audit_events(store, limit=limit, action=action, identity=identity)
    else:
        events = [e for e in read_json_lines(state_dir / "audit.jsonl")
                  if (not action or e.action == action)
                  and (not identity or e.identity == identity)][::-1][:limit]
    for e in events:
        print(f"{e.at.isoformat()}  {e.action:15s} {e.identity or '-':50s} "
              f"serial={e.serial or '-'} by={e.actor} reason={e.reason}")
    return 0


async def _serve(args: argparse.Namespace) -> int:
    from control.api import control_plane_from_dir
    from control.audit import AuditLog, AuditSink, JsonLinesAuditSink
    from control.mesh_config import MeshConfigError, load_mesh_config

    try:
        config = load_mesh_config(args.ctl_mesh)
    except MeshConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    state_dir = Path(args.ctl_state_dir)
    sinks: list[AuditSink] = [JsonLinesAuditSink(state_dir / "audit.jsonl")]
    store = None
    if args.ctl_storage:
        from control.audit import StoreAuditSink
        from storage import open_store

        store = open_store(args.ctl_storage)
        sinks.append(StoreAuditSink(store))
    plane = control_plane_from_dir(config, state_dir, config_dir=Path(args.ctl_mesh).parent,
                                   audit=AuditLog(sinks), host=args.ctl_host, port=args.ctl_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await plane.start()
    print(f"control plane {plane.url} (trust domain {config.trust_domain}; "
          f"bundle {state_dir / 'ca' / 'bundle.pem'})", flush=True)
    try:
        await stop.wait()
    finally:
        await plane.stop()
        if store is not None:
            store.close()
    return 0
