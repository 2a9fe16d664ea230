"""compose/compose.yaml, read as docker compose reads it: every office of the registry has a
service, every service's command is a real `renkei` command, every port matches the commands'
and the brokers' settings, and each service is handed only its own identity's files.

(`docker-compose config -q`, the schema check, is tests/setup/test_compose_config.py.)
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cli_runner import Run

from hub.bus.juki import juki_identity
from hub.routing import load_default_registry, load_default_table
from hub.wire import HUB
from pki.ca.office import PKI_OFFICE
from renkei import commands
from renkei.cli import _parser
from renkei.compose import ENV_FILE, HOST_STATE, STATE, deployment_secrets, own_files
from renkei.issuance_commands import CENTRE, PRINTED
from renkei.network import JUKI_ROLES, MONITOR, REPLAYER, identities
from renkei.pki_commands import DEFAULT_URL
from renkei.portal_commands import PORTAL
from renkei.secrets import BROKER_PASSWORD, PRIVATE_KEY, TOKEN

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose"
REGISTRY = load_default_registry(load_default_table())
IDENTITIES = identities(REGISTRY)
DOC: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
SERVICES: dict[str, Any] = DOC["services"]
RENKEI = {name: s for name, s in SERVICES.items() if s["image"] == "renkei"}
SERVING = {name: s for name, s in SERVICES.items() if s.get("restart") != "no"}
PARSER = _parser()


def parse(command: list[str]) -> argparse.Namespace:
    try:
        return PARSER.parse_args(command)
    except SystemExit:
        pytest.fail(f"`renkei {' '.join(command)}` is not a renkei command")


def runs(service: dict[str, Any]) -> str | None:
    """The identity a renkei service runs as on the network (None: an operator's step)."""
    args = parse(service["command"])
    if args.command == "run":
        named = {"hub": HUB, "token": TOKEN, "monitor": "monitor", "issuance-centre": CENTRE}
        return named.get(args.service, args.name)
    return {"pki": PKI_OFFICE, "portal": PORTAL}.get(args.command)


def conf(path: Path) -> dict[str, str]:
    """A RabbitMQ sysctl-style conf file: key → value."""
    pairs = (ln.split("=", 1) for ln in path.read_text().splitlines() if "=" in ln)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def hosts(url: str) -> list[tuple[str, int]]:
    """The host:port pairs of a URL's authority, comma-separated as libpq writes several."""
    authority = re.match(r"^[a-z]+://(?:[^@/]*@)?([^/]*)", url)
    assert authority, url
    pairs = [h.rsplit(":", 1) for h in authority.group(1).split(",")]
    return [(h, int(p)) for h, p in pairs]


def secret_file(source: str) -> str:
    return str(DOC["secrets"][source]["file"])


# ---- the file is the generator's -----------------------------------------------------------


def test_the_committed_file_is_what_renkei_compose_file_prints(renkei: Run) -> None:
    code, out, err = renkei("compose", "file")
    assert (code, err) == (0, "")
    assert out == (COMPOSE / "compose.yaml").read_text(), (
        "compose/compose.yaml is stale: .venv/bin/renkei compose file > compose/compose.yaml"
    )


def test_hubs_are_as_many_as_asked(renkei: Run) -> None:
    code, out, _ = renkei("compose", "file", "--hubs", "3")
    assert code == 0
    services = yaml.safe_load(out)["services"]
    assert [n for n in services if n.startswith("hub-")] == ["hub-1", "hub-2", "hub-3"]
    assert len({s["volumes"][-1] for n, s in services.items() if n.startswith("hub-")}) == 3


# ---- services --------------------------------------------------------------------------------


def test_every_office_of_the_registry_has_a_service_and_the_hub_two() -> None:
    running = [runs(s) for s in RENKEI.values() if s.get("restart") != "no"]
    offices = [o.code for o in REGISTRY]
    assert sorted(i for i in running if i in offices) == sorted(offices)
    assert running.count(HUB) >= 2
    assert running.count(TOKEN) == 1
    assert running.count("monitor") == 1
    assert set(running) == {*offices, HUB, TOKEN, "monitor"}  # and nothing else runs
    juki = {juki_identity(o.code) for o in REGISTRY if JUKI_ROLES & set(o.roles)}
    assert juki == {"juki-jlis", "juki-chiyoda-resident", "juki-shinjuku-resident", "juki-jlis-pki"}
    # the replayer runs inside the monitor; a 住基ネット user inside its register, J-LIS or CA
    assert set(IDENTITIES) == {*running, REPLAYER, *juki}


def test_every_renkei_command_is_a_real_one() -> None:
    for name, service in RENKEI.items():
        args = parse(service["command"])
        assert inspect.iscoroutinefunction(args.run), name
        assert args.run.__module__.startswith("renkei."), name
        if args.command == "run" and args.service == "office":
            assert args.name in {o.code for o in REGISTRY}, name
    steps = {tuple(s["command"]) for s in RENKEI.values() if s["restart"] == "no"}
    assert steps == {("broker", "setup"), ("db", "migrate")}
    assert parse(["broker", "setup"]).run is commands.broker_setup


def test_every_service_has_a_health_check_or_runs_once() -> None:
    for name, service in SERVICES.items():
        assert ("healthcheck" in service) != (service["restart"] == "no"), name


def test_a_bus_service_s_health_is_its_own_heartbeat() -> None:
    for name, service in RENKEI.items():
        args = parse(service["command"])
        if args.command == "run":
            test = service["healthcheck"]["test"]
            assert test == ["CMD", "python", "-m", "renkei.health", str(args.heartbeat)], name
            assert str(args.heartbeat).startswith(tuple(service["tmpfs"])), name


def test_services_wait_for_what_they_need() -> None:
    for name, service in RENKEI.items():
        needs = service.get("depends_on", {})
        if name == "broker-setup":
            assert {n for n in SERVICES if n.startswith("rabbit-")} <= set(needs)
        elif name == "db-migrate":
            assert set(needs) == {"postgres"}
        else:
            assert needs["broker-setup"] == {"condition": "service_completed_successfully"}
            uses_db = any(s["target"] == ENV_FILE for s in service["secrets"])
            assert ("db-migrate" in needs) == uses_db, name
    assert SERVICES["portal"]["depends_on"]["pki"] == {"condition": "service_healthy"}


def test_one_image_built_from_compose_dockerfile() -> None:
    builds = {repr(s["build"]) for s in RENKEI.values()}
    assert len(builds) == 1
    build = next(iter(RENKEI.values()))["build"]
    assert (COMPOSE / build["context"] / build["dockerfile"]).resolve() == COMPOSE / "Dockerfile"
    assert all("build" not in s for n, s in SERVICES.items() if n not in RENKEI)


# ---- ports -----------------------------------------------------------------------------------


def test_the_ca_port_is_the_one_its_command_serves_and_its_clients_use() -> None:
    pki = SERVICES["pki"]
    args = parse(pki["command"])
    assert args.port == parse(["pki", "serve"]).port == urlsplit(DEFAULT_URL).port
    assert args.host == "0.0.0.0"  # reachable from the other containers
    assert pki["ports"] == [f"127.0.0.1:{args.port}:{args.port}"]
    assert urlsplit(pki["healthcheck"]["test"][-1]).port == args.port
    public = urlsplit(args.public_url)  # written into certificates: CRLs, OCSP
    assert (public.hostname, public.port) == ("pki", args.port)


def test_the_portal_port_is_the_one_its_command_serves_and_browsers_use() -> None:
    portal = SERVICES["portal"]
    args = parse(portal["command"])
    assert args.port == parse(["portal", "serve"]).port
    assert args.host == "0.0.0.0"
    assert portal["ports"] == [f"127.0.0.1:{args.port}:{args.port}"]
    assert urlsplit(portal["healthcheck"]["test"][-1]).port == args.port
    public = urlsplit(args.public_url)  # the origin browsers see: the published port
    assert (public.hostname, public.port) == ("127.0.0.1", args.port)
    assert args.ca_file == f"{STATE}/pki/certs/chain.pem"  # where the CA writes its chain
    assert f"ca-certs:{STATE}/pki/certs:ro" in portal["volumes"]
    assert "ca-certs:/state/pki/certs" in SERVICES["pki"]["volumes"]


def test_every_service_connects_to_all_three_rabbitmq_nodes() -> None:
    rabbits = [n for n in SERVICES if n.startswith("rabbit-")]
    assert len(rabbits) == 3
    rabbit = conf(COMPOSE / "rabbitmq" / "rabbitmq.conf")
    amqp = int(rabbit["listeners.tcp.default"])
    for name, service in RENKEI.items():
        url = service["environment"]["RENKEI_BROKER_URL"]
        assert urlsplit(url).scheme == "amqp", name
        assert hosts(url) == [(r, amqp) for r in rabbits], name
        assert "@" not in url, f"{name}: each service logs in as its own identity, not as this"
    nodes = {v for k, v in rabbit.items() if k.startswith("cluster_formation.classic_config")}
    assert nodes == {f"rabbit@{SERVICES[r]['hostname']}" for r in rabbits}


def test_the_urls_in_the_deployment_secrets_reach_their_services() -> None:
    made = deployment_secrets()
    rabbit = conf(COMPOSE / "rabbitmq" / "rabbitmq.conf")
    admin_url = made["broker-admin.env"].removeprefix("RENKEI_BROKER_ADMIN_URL=").strip()
    rabbits = [n for n in SERVICES if n.startswith("rabbit-")]
    assert hosts(admin_url) == [(r, int(rabbit["management.tcp.port"])) for r in rabbits]
    login = re.match(r"^http://([^:@]+):([^@]+)@", admin_url)
    assert login, "the administrator's login"
    admin_conf = conf_text(made["rabbitmq-admin.conf"])
    assert login.groups() == (admin_conf["default_user"], admin_conf["default_pass"])
    postgres = SERVICES["postgres"]["environment"]
    for env, role, password in (
        ("db-owner.env", postgres["RENKEI_DB_OWNER"], made["db-owner-password"]),
        ("db-hub.env", postgres["RENKEI_DB_HUB_ROLE"], made["db-hub-password"]),
        ("db-monitor.env", postgres["RENKEI_DB_MONITOR_ROLE"], made["db-monitor-password"]),
    ):
        url = urlsplit(made[env].removeprefix("RENKEI_DB_URL=").strip())
        assert (url.hostname, url.port) == ("postgres", 5432)  # PostgreSQL's own port
        assert (url.username, url.password, url.path) == (
            role,
            password,
            "/" + postgres["POSTGRES_DB"],
        )
    assert "PGPORT" not in postgres


def conf_text(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (ln.split("=", 1) for ln in text.splitlines())}


# ---- secrets: each service its own -------------------------------------------------------------


def test_each_service_gets_public_and_its_own_identity_s_files_only() -> None:
    for name, service in RENKEI.items():
        identity = runs(service)
        if name == "db-migrate":
            identity = HUB  # the operator's step: the hub's key signs the first checkpoint
        if identity is None:
            continue
        prints = identity in REGISTRY and bool(PRINTED & set(REGISTRY.get(identity).provides))
        own = {
            f"{STATE}/{identity}/{f}": f"{HOST_STATE}/{identity}/{f}"
            for f in own_files(identity, prints=prints)
        }
        if identity == MONITOR:  # and its second identity's, for the dead-letter replay
            own |= {
                f"{STATE}/{REPLAYER}/{f}": f"{HOST_STATE}/{REPLAYER}/{f}"
                for f in own_files(REPLAYER)
            }
        if identity in REGISTRY and JUKI_ROLES & set(REGISTRY.get(identity).roles):
            juki = juki_identity(identity)  # and its 住基ネット user's (its key, its password)
            own |= {
                f"{STATE}/{juki}/{f}": f"{HOST_STATE}/{juki}/{f}"
                for f in (PRIVATE_KEY, BROKER_PASSWORD)
            }
        files = {s["target"]: secret_file(s["source"]) for s in service["secrets"]}
        env = files.pop(ENV_FILE, None)
        assert files == own, f"{name} must get {identity}'s files and no one else's"
        assert env is None or env.startswith(f"{HOST_STATE}/compose/"), name
        state = [v for v in service["volumes"] if v.startswith(HOST_STATE)]
        assert state == [f"{HOST_STATE}/public:{STATE}/public:ro"], name


def test_broker_setup_gets_every_broker_password_and_no_other_secret() -> None:
    service = SERVICES["broker-setup"]
    files = {s["target"]: secret_file(s["source"]) for s in service["secrets"]}
    assert files.pop(ENV_FILE) == f"{HOST_STATE}/compose/broker-admin.env"
    assert files == {
        f"{STATE}/{i}/{BROKER_PASSWORD}": f"{HOST_STATE}/{i}/{BROKER_PASSWORD}" for i in IDENTITIES
    }
    assert "volumes" not in service


def test_the_hubs_connect_as_the_append_only_role_and_the_token_service_not_at_all() -> None:
    def env_of(name: str) -> str | None:
        found = [
            secret_file(s["source"]) for s in SERVICES[name]["secrets"] if s["target"] == ENV_FILE
        ]
        return found[0].rsplit("/", 1)[1] if found else None

    hubs = [n for n, s in RENKEI.items() if runs(s) == HUB]
    assert {env_of(n) for n in hubs} == {"db-hub.env"}
    assert SERVICES["db-migrate"]["environment"]["RENKEI_DB_HUB_ROLE"] == "renkei_hub"
    assert env_of("db-migrate") == "db-owner.env"
    assert env_of("token") is None  # it holds no content, and no database password
    hub_role = urlsplit(deployment_secrets()["db-hub.env"].split("=", 1)[1]).username
    assert hub_role == SERVICES["db-migrate"]["environment"]["RENKEI_DB_HUB_ROLE"]
    witnesses = {v for n in hubs for v in SERVICES[n]["volumes"] if "witness" in v}
    assert len(witnesses) == len(hubs)  # each hub keeps its own, as on hosts of their own


def test_every_secret_is_a_file_of_the_state_directory() -> None:
    used = {s["source"] for service in SERVICES.values() for s in service.get("secrets", [])}
    assert used == set(DOC["secrets"])
    for name, secret in DOC["secrets"].items():
        assert set(secret) == {"file"}, name
        folder, _, file = name.partition(".")
        assert secret["file"] == f"{HOST_STATE}/{folder}/{file}"
        assert folder in {*IDENTITIES, "compose"}
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.removeprefix(HOST_STATE).split(":")[0]
            assert volume.startswith(("./", HOST_STATE)) or source in DOC["volumes"], volume


# ---- the image -------------------------------------------------------------------------------


def test_the_image_bakes_in_no_secret_and_runs_as_no_root() -> None:
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    instructions = [ln.split()[0] for ln in dockerfile.splitlines() if ln and ln[0].isupper()]
    assert instructions.count("FROM") == 2
    assert all(
        ln.startswith("FROM python:3.11-slim")
        for ln in dockerfile.splitlines()
        if ln.startswith("FROM")
    )
    assert re.search(r"^USER renkei$", dockerfile, re.MULTILINE)
    assert re.search(rf"^WORKDIR {Path(ENV_FILE).parent}$", dockerfile, re.MULTILINE)
    assert "var" not in re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE)
    ignore = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and ln[0] != "#"]
    assert ignore[0] == "*"  # nothing enters the build but what is let in below
    let_in = {ln[1:] for ln in ignore if ln.startswith("!")}
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"include = \[(.*?)\]", pyproject)
    assert packages
    wanted = {p.strip(' "*') for p in packages.group(1).split(",")}
    assert let_in == wanted | {"pyproject.toml", "README.md"}


# ---- RabbitMQ's and PostgreSQL's own files ----------------------------------------------------


def test_every_file_mounted_from_compose_exists_and_the_scripts_find_theirs() -> None:
    mounts: dict[str, dict[str, str]] = {}
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (COMPOSE / source).is_file(), volume
                mounts.setdefault(name, {})[source] = target
    postgres = SERVICES["postgres"]
    roles_sh = (COMPOSE / "postgres" / "roles.sh").read_text()
    assert f"--file {mounts['postgres']['./postgres/roles.sql']}" in roles_sh
    assert mounts["postgres"]["./postgres/roles.sh"].startswith("/docker-entrypoint-initdb.d/")
    image_sets = {"POSTGRES_USER"}  # the image's entrypoint exports it (default postgres)
    for var in re.findall(r'"\$(\w+)"', roles_sh):
        assert var in postgres["environment"] or var in image_sets, var
    start = (COMPOSE / "postgres" / "start").read_text()
    handed = re.search(r"install -d .* (/run/\w+)$", start, re.MULTILINE)
    assert handed
    assert f"--set secrets={handed.group(1)}" in roles_sh
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"].startswith(handed.group(1) + "/")
    assert postgres["tmpfs"] == [handed.group(1)]  # the copies never reach a disk
    for name in ("postgres", *(n for n in SERVICES if n.startswith("rabbit-"))):
        folder = "postgres" if name == "postgres" else "rabbitmq"
        assert SERVICES[name]["entrypoint"] == ["bash", mounts[name][f"./{folder}/start"]]
    rabbit_start = (COMPOSE / "rabbitmq" / "start").read_text()
    for secret in SERVICES["rabbit-1"]["secrets"]:
        assert secret["target"] in rabbit_start, secret


# ---- the monitor's role, and Prometheus --------------------------------------------------------


def env_file_of(name: str) -> str | None:
    found = [secret_file(s["source"]) for s in SERVICES[name]["secrets"] if s["target"] == ENV_FILE]
    return found[0].rsplit("/", 1)[1] if found else None


def test_the_monitor_connects_as_its_own_role_which_db_migrate_grants() -> None:
    assert env_file_of("monitor") == "db-monitor.env"
    role = urlsplit(deployment_secrets()["db-monitor.env"].split("=", 1)[1]).username
    assert role == SERVICES["db-migrate"]["environment"]["RENKEI_DB_MONITOR_ROLE"]
    assert role == SERVICES["postgres"]["environment"]["RENKEI_DB_MONITOR_ROLE"]
    assert role not in (DB_OWNER_ROLE, "renkei_hub")


DB_OWNER_ROLE = SERVICES["postgres"]["environment"]["RENKEI_DB_OWNER"]


def test_every_serving_renkei_service_exposes_metrics_and_prometheus_scrapes_them() -> None:
    serving = {n for n, s in RENKEI.items() if s.get("restart") != "no"}
    assert serving >= {"hub-1", "hub-2", "token", "monitor", "pki", "portal"}
    for name in serving:
        env = SERVICES[name]["environment"]
        assert (env["RENKEI_METRICS_HOST"], env["RENKEI_METRICS_PORT"]) == ("0.0.0.0", "9464")
        assert parse(SERVICES[name]["command"]).metrics_port is None  # the environment's
    for name in set(RENKEI) - serving:  # the one-shot steps serve nothing
        assert "RENKEI_METRICS_PORT" not in SERVICES[name]["environment"]
    config = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert {f"{n}:9464" for n in serving} | {
        f"{r}:15692" for r in SERVICES if r.startswith("rabbit-")
    } == targets
    prometheus = SERVICES["prometheus"]
    assert set(prometheus["depends_on"]) >= serving
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]  # the operator's machine only
    assert config["rule_files"] == ["rules.yml"]
    mounted = {v.split(":")[1] for v in prometheus["volumes"]}
    assert {"/etc/prometheus/prometheus.yml", "/etc/prometheus/rules.yml"} <= mounted


def test_the_committed_prometheus_config_is_what_renkei_compose_prometheus_prints(
    renkei: Run,
) -> None:
    code, out, err = renkei("compose", "prometheus")
    assert code == 0, err
    assert out == (COMPOSE / "prometheus" / "prometheus.yml").read_text()
