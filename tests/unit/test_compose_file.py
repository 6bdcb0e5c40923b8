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
    assert {"collector", "ui", "migrate"} <= set(commands)
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
