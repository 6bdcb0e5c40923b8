"""deploy/clickhouse/: the 2 x 2 cluster with 3 Keepers, checked without Docker: every
XML parses, macros match the cluster layout, names agree with storage/cluster.py
and the compose file mounts each server's own macros."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse"
CLUSTER = "meshlens_cluster"


def xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def layout() -> list[list[str]]:
    """Hosts of each shard, from remote_servers."""
    cluster = xml(DEPLOY / "config.d" / "cluster.xml").find(f"remote_servers/{CLUSTER}")
    assert cluster is not None, f"no {CLUSTER} in remote_servers"
    shards = []
    for shard in cluster.findall("shard"):
        assert shard.findtext("internal_replication") == "true"
        shards.append([r.findtext("host") or "" for r in shard.findall("replica")])
    return shards


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.cluster.yml").read_text())


def test_every_xml_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.xml"))
    assert len(files) == 1 + 4 + 3
    for path in files:
        assert xml(path).tag == "clickhouse", path


def test_two_shards_of_two_replicas_with_matching_macros() -> None:
    shards = layout()
    assert [len(s) for s in shards] == [2, 2]
    for number, hosts in enumerate(shards, start=1):
        for host in hosts:
            macros = xml(DEPLOY / "config.d" / f"macros-{host}.xml")
            assert macros.findtext("macros/shard") == str(number), host
            assert macros.findtext("macros/replica") == host
            assert macros.findtext("macros/cluster") == CLUSTER
            assert macros.findtext("interserver_http_host") == host
    assert len({h for s in shards for h in s}) == 4


def test_keepers_form_one_ensemble_the_servers_use() -> None:
    servers = xml(DEPLOY / "config.d" / "cluster.xml")
    nodes = [(n.findtext("host"), n.findtext("port")) for n in servers.findall("zookeeper/node")]
    ids = set()
    for k in (1, 2, 3):
        keeper = xml(DEPLOY / "keeper" / f"keeper-{k}.xml").find("keeper_server")
        assert keeper is not None
        ids.add(keeper.findtext("server_id"))
        raft = [
            (s.findtext("id"), s.findtext("hostname"))
            for s in keeper.findall("raft_configuration/server")
        ]
        assert raft == [("1", "keeper-1"), ("2", "keeper-2"), ("3", "keeper-3")]
        assert (f"keeper-{k}", keeper.findtext("tcp_port")) in nodes
    assert ids == {"1", "2", "3"} and len(nodes) == 3


def test_compose_mounts_each_server_its_own_macros() -> None:
    services = compose()["services"]
    for host in (h for s in layout() for h in s):
        mounts = services[host]["volumes"]
        assert (
            f"./config.d/macros-{host}.xml:/etc/clickhouse-server/config.d/macros.xml:ro" in mounts
        )
        assert "./config.d/cluster.xml:/etc/clickhouse-server/config.d/cluster.xml:ro" in mounts
        assert services[host]["hostname"] == host
    for k in (1, 2, 3):
        keeper = f"./keeper/keeper-{k}.xml:/etc/clickhouse-keeper/keeper_config.xml:ro"
        assert keeper in services[f"keeper-{k}"]["volumes"]
    for path in (m.split(":")[0] for s in services.values() for m in s.get("volumes", [])):
        assert not path.startswith("./") or (DEPLOY / path).is_file(), path


def test_schema_job_inits_the_same_cluster() -> None:
    schema = compose()["services"]["schema"]
    command = schema["command"]
    assert command[:4] == ["storage", "init", "--cluster", CLUSTER]
    assert schema["environment"]["MESHLENS_STORAGE"].startswith("http://ch-s1-r1:")
