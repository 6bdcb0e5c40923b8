"""docker-compose.yml is for users (no Docker engine here): check it statically."""

from pathlib import Path

import yaml

from meshlens.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_meshlens_command_parses_with_the_real_cli() -> None:
    services = load_compose()["services"]
    commands = {name: svc["command"] for name, svc in services.items() if "build" in svc}
    assert {"collector", "ui", "migrate", "control"} <= set(commands)
    for name, argv in commands.items():
        args = build_parser().parse_args(argv)
        assert args.command, name


def test_dependencies_exist_and_storage_points_at_the_server() -> None:
    services = load_compose()["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        if "build" in svc:
            assert svc["environment"]["MESHLENS_STORAGE"] == "http://clickhouse:8123"
            assert (ROOT / svc["build"]["dockerfile"]).is_file()


def test_published_ports_match_the_documented_defaults() -> None:
    services = load_compose()["services"]
    assert services["collector"]["ports"] == ["4317:4317", "4318:4318"]
    assert services["ui"]["ports"] == ["8050:8050"]
    assert services["clickhouse"]["ports"] == ["8123:8123"]
    assert services["control"]["ports"] == ["15010:15010"]


def test_the_control_service_mounts_a_valid_mesh() -> None:
    from control.mesh_config import load_mesh_config

    control = load_compose()["services"]["control"]
    mount = next(v for v in control["volumes"] if v.endswith(":/etc/meshlens/mesh.yaml:ro"))
    assert load_mesh_config(ROOT / mount.split(":")[0]).trust_domain == "cluster.local"
