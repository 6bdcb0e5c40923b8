"""The `meshlens` command: one subcommand per component."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Mapping, Sequence

from control.commands import add_control_commands, run_control_command
from meshlens.identity_proxy import (
    DEFAULT_TRUST_DOMAIN,
    ProxyIdentity,
    ProxyIdentityError,
    proxy_identity,
    run_identity_proxy,
)
from meshlens.settings import Settings, SettingsError, load_settings

# grpc's fork handlers log a line for every child `meshlens up --demo` starts while
# the gRPC receiver runs; children exec at once, so the handlers have nothing to do.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

try:  # the data plane and collector run on uvloop when it is installed
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    uvloop = None  # type: ignore[assignment]


def _add_storage(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage",
        help="chdb:///dir (embedded, default ./.meshlens/data) or http(s)://host:8123 "
        "[env MESHLENS_STORAGE]",
    )


def _add_ports(p: argparse.ArgumentParser, *, ui: bool, otlp: bool) -> None:
    p.add_argument("--host", help="address to listen on (default 127.0.0.1) [env MESHLENS_HOST]")
    if otlp:
        p.add_argument("--otlp-grpc-port", type=int, help="OTLP/gRPC port (default 4317)")
        p.add_argument("--otlp-http-port", type=int, help="OTLP/HTTP port (default 4318)")
        p.add_argument(
            "--collector-admin-port", type=int, help="collector /metrics port (default 8888)"
        )
    if ui:
        p.add_argument("--ui-port", type=int, help="UI port (default 8050)")


def _add_collector_options(p: argparse.ArgumentParser) -> None:
    """TLS on the OTLP receivers, tail sampling and self-metrics (docs/collector.md)."""
    tls = p.add_argument_group("OTLP receiver TLS (both receivers; off by default)")
    tls.add_argument("--otlp-tls-cert-file", help="PEM certificate chain: the receivers speak TLS")
    tls.add_argument("--otlp-tls-key-file", help="PEM private key of that certificate")
    tls.add_argument(
        "--otlp-tls-client-ca-file",
        help="PEM CA certificates: clients must present a certificate they signed (mTLS)",
    )
    sampling = p.add_argument_group(
        "tail sampling of stored spans (off by default; RED and the service graph see all)"
    )
    sampling.add_argument(
        "--tail-sampling", action="store_true", default=None,
        help="keep traces with an error or over the latency threshold, a share of the rest",
    )  # fmt: skip
    sampling.add_argument(
        "--tail-sampling-wait", help="seconds to wait for a trace's spans (default 10)"
    )
    sampling.add_argument(
        "--tail-sampling-latency", help="seconds from which a trace is kept as slow (default 1)"
    )
    sampling.add_argument(
        "--tail-sampling-percent", help="percent of the other traces kept (default 10)"
    )
    sampling.add_argument(
        "--tail-sampling-max-traces", help="traces waiting at most (default 50000)"
    )
    p.add_argument(
        "--collector-self-metrics-interval",
        help="seconds between the collector's self-metrics rounds into storage (default 10; "
        "0: off)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshlens",
        description="MeshLens: an observability-first service mesh. Every flag also reads "
        "MESHLENS_<FLAG> from the environment.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up", help="run control plane, collector and UI on the embedded store (all-in-one)"
    )
    up.add_argument("--demo", action="store_true", help="also run demo services, sidecars, load")
    up.add_argument("--demo-rate", type=float, help="demo load in requests/s (default 5)")
    up.add_argument("--state-dir", help="logs and demo configs (default ./.meshlens)")
    up.add_argument(
        "--mesh",
        help="mesh.yaml for the control plane (default: an empty mesh, "
        "trust domain cluster.local; --demo writes its own) [env MESHLENS_MESH]",
    )
    _add_storage(up)
    _add_ports(up, ui=True, otlp=True)
    _add_collector_options(up)
    up.add_argument(
        "--control-port",
        type=int,
        help="control plane HTTPS API port (default 15010) [env MESHLENS_CONTROL_PORT]",
    )

    collector = sub.add_parser("collector", help="run the OTLP collector")
    _add_storage(collector)
    _add_ports(collector, ui=False, otlp=True)
    _add_collector_options(collector)

    ui = sub.add_parser("ui", help="run the Dash UI")
    _add_storage(ui)
    _add_ports(ui, ui=True, otlp=False)

    proxy = sub.add_parser("proxy", help="run one sidecar proxy")
    proxy.add_argument("--config", required=True, help="sidecar YAML file")
    proxy.add_argument(
        "--control-url",
        help="control plane URL (https://host:15010); with it "
        "the sidecar bootstraps an identity and speaks mTLS "
        "[env MESHLENS_CONTROL_URL]",
    )
    token = proxy.add_mutually_exclusive_group()
    token.add_argument(
        "--bootstrap-token", help="this service's bootstrap token [env MESHLENS_BOOTSTRAP_TOKEN]"
    )
    token.add_argument(
        "--bootstrap-token-file",
        help="a file holding the bootstrap token [env MESHLENS_BOOTSTRAP_TOKEN_FILE]",
    )
    proxy.add_argument(
        "--trust-bundle",
        help="PEM file of the mesh's trust roots "
        "(<control state>/ca/bundle.pem) [env MESHLENS_TRUST_BUNDLE]",
    )
    proxy.add_argument(
        "--trust-domain",
        help=f"SPIFFE trust domain (default {DEFAULT_TRUST_DOMAIN}) [env MESHLENS_TRUST_DOMAIN]",
    )

    from storage.commands import add_storage_arguments

    storage = sub.add_parser("storage", help="schema migrations, retention, cluster DDL")
    add_storage_arguments(storage)  # migrate|status|retention|init (storage/commands.py)
    _add_storage(storage)
    add_control_commands(sub)  # config validate, control, certs, audit (control/commands.py)
    return parser


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    keys = (
        "storage", "host", "otlp_grpc_port", "otlp_http_port", "collector_admin_port",
        "ui_port", "control_port", "state_dir", "mesh",
        "otlp_tls_cert_file", "otlp_tls_key_file", "otlp_tls_client_ca_file",
        "tail_sampling", "tail_sampling_wait", "tail_sampling_latency", "tail_sampling_percent",
        "tail_sampling_max_traces", "collector_self_metrics_interval",
    )  # fmt: skip
    overrides = {k: getattr(args, k, None) for k in (*keys, "demo_rate")}
    return load_settings(env, **overrides)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environ = os.environ if env is None else env
    try:
        settings = settings_from_args(args, environ)
    except SettingsError as exc:
        print(f"meshlens: {exc}", file=sys.stderr)
        return 2
    if args.command == "proxy":
        try:
            identity = proxy_identity(args, environ)
        except ProxyIdentityError as exc:
            print(f"meshlens proxy: {exc}", file=sys.stderr)
            return 2
        return _run_proxy(args.config, identity)
    if args.command == "storage":
        from storage.commands import run_storage_command

        return run_storage_command(args, settings.storage)
    control_exit = run_control_command(args)
    if control_exit is not None:
        return control_exit
    if args.command == "up" and args.demo and settings.otlp_tls_cert_file is not None:
        print(
            "meshlens: --otlp-tls-cert-file: not with --demo (its sidecars send OTLP in "
            "plaintext)",
            file=sys.stderr,
        )
        return 2
    from meshlens import all_in_one

    runners = {
        "up": lambda: all_in_one.run(settings, demo=args.demo),
        "collector": lambda: all_in_one.run(settings, demo=False, ui=False, control=False),
        "ui": lambda: all_in_one.run(settings, demo=False, collector=False, control=False),
    }
    return _run(runners[args.command]())


def _run(coro: object) -> int:
    runner = uvloop.run if uvloop is not None else asyncio.run
    try:
        return int(runner(coro))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return 130


def _run_proxy(config_path: str, identity: ProxyIdentity | None = None) -> int:
    from proxy import ConfigError, load_sidecar_config, run_sidecar

    try:
        config = load_sidecar_config(config_path)
    except ConfigError as exc:
        print(f"meshlens proxy: {exc}", file=sys.stderr)
        return 2
    if identity is not None:
        return _run(run_identity_proxy(config, identity))
    return _run(_sidecar_until_signal(run_sidecar(config)))


async def _sidecar_until_signal(running: Awaitable[None]) -> int:
    await running
    return 0
