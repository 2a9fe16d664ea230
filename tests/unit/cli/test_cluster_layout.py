"""``renkei cluster``'s layout (``renkei/cluster.py``) and its refusals before any I/O; the
cluster itself runs in tests/integration/cluster."""

from __future__ import annotations

import json
from pathlib import Path

from cli_runner import Run

from hub.bus import BrokerUrl
from renkei.cluster import Cluster, Manifest
from renkei.settings import Settings

PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def cluster(base: int = 5680) -> Cluster:
    return Cluster(Path("/srv/c"), Manifest(base, PG, ("jlis", "chiyoda-tax"), hubs=2))


def test_three_nodes_with_names_ports_and_folders_of_their_own() -> None:
    nodes = cluster().nodes
    assert [(n.name, n.amqp, n.management, n.dist) for n in nodes] == [
        ("renkei-5681@localhost", 5681, 15681, 25681),
        ("renkei-5682@localhost", 5682, 15682, 25682),
        ("renkei-5683@localhost", 5683, 15683, 25683),
    ]
    env = nodes[1].env(Path("/srv/c"))
    assert env["HOME"] == "/srv/c"  # the cluster's Erlang cookie
    assert env["RABBITMQ_NODENAME"] == "renkei-5682@localhost"
    assert (env["RABBITMQ_NODE_IP_ADDRESS"], env["RABBITMQ_NODE_PORT"]) == ("127.0.0.1", "5682")
    assert env["RABBITMQ_DIST_PORT"] == "25682"
    for name in ("MNESIA_BASE", "LOG_BASE", "PID_FILE", "CONFIG_FILE", "CONF_ENV_FILE",
                 "ENABLED_PLUGINS_FILE", "ADVANCED_CONFIG_FILE", "CONFIG_FILES"):  # fmt: skip
        assert env[f"RABBITMQ_{name}"].startswith("/srv/c/rabbit-2/"), name
    config = nodes[1].config()
    assert "management.tcp.port = 15682\n" in config
    assert "management.tcp.ip = 127.0.0.1\n" in config
    assert "queue_leader_locator = balanced\n" in config


def test_every_process_is_told_every_node() -> None:
    c = cluster(7000)
    env = c.settings_env()
    assert env["RENKEI_BROKER_URL"] == (
        "amqp://guest:guest@127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003/"
    )
    assert BrokerUrl.parse(env["RENKEI_BROKER_ADMIN_URL"]).hosts == (
        "127.0.0.1:17001",
        "127.0.0.1:17002",
        "127.0.0.1:17003",
    )
    assert env["RENKEI_DB_URL"] == "postgresql://postgres@127.0.0.1:5432/renkei_cluster_7000"
    assert env["RENKEI_STATE_DIR"] == "/srv/c/state"
    assert env["RENKEI_TOKEN_ADDRESS"] == "127.0.0.1:7004"  # the hubs' channel to the token service
    settings = Settings(**{k[7:].lower(): v for k, v in env.items()}, broker_user_prefix="")
    assert settings.token_addresses == [("127.0.0.1", 7004)]
    assert settings.broker_url_for("hub", "pw") == (
        "amqp://hub:pw@127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003/renkei"
    )


def test_the_services_and_the_manifest() -> None:
    c = cluster()
    assert [(s.name, s.args) for s in c.services] == [
        ("token", ("run", "token")),
        ("hub-1", ("run", "hub")),
        ("hub-2", ("run", "hub")),
        ("office-jlis", ("run", "office", "jlis")),
        ("office-chiyoda-tax", ("run", "office", "chiyoda-tax")),
    ]
    c.manifest.pids["token"] = 42
    assert Manifest.loads(c.manifest.dumps()) == c.manifest


def test_one_node_alone_and_a_manifest_from_before_the_node_count() -> None:
    one = Cluster(Path("/srv/c"), Manifest(7000, PG, (), hubs=0, nodes=1))
    assert [(n.name, n.amqp, n.management) for n in one.nodes] == [
        ("renkei-7001@localhost", 7001, 17001)
    ]
    assert one.broker_url == "amqp://guest:guest@127.0.0.1:7001/"
    assert one.admin_url == "http://guest:guest@127.0.0.1:17001"
    old = json.dumps({"base_port": 5680, "postgres": PG, "offices": [], "hubs": 2, "joined": True})
    assert len(Cluster(Path("/srv/c"), Manifest.loads(old)).nodes) == 3


def test_up_refuses_what_it_cannot_run_before_starting_anything(
    renkei: Run, tmp_path: Path
) -> None:
    code, _, err = renkei("cluster", "up", "--dir", str(tmp_path / "c"), "--office", "nowhere")
    assert (code, err.strip()) == (
        2,
        "renkei: renkei.unknown_office: no office nowhere in the registry",
    )
    code, _, err = renkei("cluster", "up", "--dir", str(tmp_path / "c"), "--base-port", "50000")
    assert code == 2 and "--base-port takes 1024 to 45000" in err
    code, _, err = renkei("cluster", "up", "--dir", str(tmp_path / "c"), "--hubs", "0")
    assert code == 2 and "--hubs takes 1 or more" in err
    assert not (tmp_path / "c").exists()


def test_status_and_down_without_a_cluster(renkei: Run, tmp_path: Path) -> None:
    assert renkei("cluster", "status", "--dir", str(tmp_path)) == (
        1,
        f"no cluster in {tmp_path}\n",
        "",
    )
    assert renkei("cluster", "down", "--dir", str(tmp_path))[:2] == (
        0,
        f"no cluster in {tmp_path}\n",
    )
