"""The whole network as one docker compose deployment (``compose/``), made from the registry.

``compose_file(registry)`` is a pure function of the office registry: three RabbitMQ nodes in
one cluster, PostgreSQL, the one-shot ``broker setup`` and ``db migrate``, the token service,
``HUBS`` hub processes, one service per office, the CA, the portal, the monitor and Prometheus,
which scrapes every service's ``GET /metrics`` (``prometheus_config``: compose/prometheus/
prometheus.yml). ``compose/compose.yaml`` is ``render(compose_file(...))`` for the packaged
registry (a test keeps them equal, and the Prometheus configuration too); an operator with a
registry of their own runs ``renkei compose file`` (and ``renkei compose prometheus``) for
theirs.

Each renkei service gets ``public/`` and the folder of the identity it runs, nothing else,
mounted from the directory ``renkei init`` filled (never copied into the image), and what it
needs beyond them — a database URL with its role's password, the broker administrator's URL —
as its ``.env`` (a secret file; ``Settings`` reads ``.env`` in the working directory).
``deployment_secrets()`` makes those and the secrets of the services that are not renkei's
(RabbitMQ's Erlang cookie and administrator, PostgreSQL's roles); ``renkei compose secrets``
writes them under ``<state_dir>/compose/``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

import yaml

from hub.bus.juki import juki_identity
from hub.routing import Office, Registry
from hub.wire import HUB
from issuance.seal import SEAL_CERT, SEAL_KEY
from monitor.console import DEFAULT_PORT as CONSOLE_PORT
from pki.ca.office import PKI_OFFICE
from renkei.health import STALE_AFTER
from renkei.issuance_commands import CENTRE, CENTRE_PORT, PRINTED
from renkei.network import JUKI_ROLES, MONITOR, REPLAYER
from renkei.pki_commands import PKI_PORT
from renkei.portal_commands import PORTAL, PORTAL_PORT
from renkei.secrets import BROKER_PASSWORD, PRIVATE_KEY, SHARED, TOKEN
from renkei.settings import TOKEN_PORT

__all__ = [
    "BROKER_URL",
    "DEPLOYMENT_SECRETS",
    "ENV_FILE",
    "HOST_STATE",
    "HUBS",
    "RABBITS",
    "STATE",
    "compose_file",
    "deployment_secrets",
    "prometheus_config",
    "render",
    "render_prometheus",
]

HUBS = 2  # hub processes: they keep no state between messages, so any number can run
RABBITS = ("rabbit-1", "rabbit-2", "rabbit-3")
AMQP_PORT, MANAGEMENT_PORT, DB_PORT = 5672, 15672, 5432
# every service connects to all three nodes and fails over (libpq's host list format)
BROKER_URL = "amqp://" + ",".join(f"{r}:{AMQP_PORT}" for r in RABBITS) + "/"
RABBIT_IMAGE, POSTGRES_IMAGE = "rabbitmq:3.13-management", "postgres:16"
BROKER_ADMIN = "renkei-admin"  # RabbitMQ's administrator: `broker setup` only
# the database and its roles: the owner, the hub's (append to the records), the monitor's
# (its own schema, the records read only)
DB, DB_OWNER, DB_HUB, DB_MONITOR = "renkei", "renkei", "renkei_hub", "renkei_monitor"
METRICS_PORT = 9464  # every renkei service's GET /metrics, inside compose's network
TOKEN_ADDRESS = f"token:{TOKEN_PORT}"  # the token service, as the hubs reach it
RABBIT_METRICS_PORT = 15692  # RabbitMQ's rabbitmq_prometheus
PROMETHEUS_IMAGE, PROMETHEUS_PORT = "prom/prometheus:v2.53.0", 9090

IMAGE = "renkei"  # built from compose/Dockerfile, one image for every renkei service
STATE = "/state"  # RENKEI_STATE_DIR in the containers
ENV_FILE = "/srv/renkei/.env"  # in the image's working directory, where Settings reads it
ANY = "0.0.0.0"  # noqa: S104 — the services listen on their container's network
HEARTBEAT = "/tmp/renkei.alive"  # noqa: S108 — a tmpfs of the container's own
WITNESS = "/var/lib/renkei/witness"  # the hub's witness (RENKEI_WITNESS_DIR), a volume per hub
# seen from compose/: the directory `renkei init` filled, and the operator's uid and gid, which
# build the image's user (compose mounts secrets as the operator's files, mode 0600)
HOST_STATE = "${RENKEI_COMPOSE_STATE:-../var}"
BUILD: dict[str, Any] = {
    "context": "..",
    "dockerfile": "compose/Dockerfile",
    "args": {"UID": "${RENKEI_COMPOSE_UID:-1000}", "GID": "${RENKEI_COMPOSE_GID:-1000}"},
}

# the secrets of the deployment's own services, under <state_dir>/compose/
COOKIE, RABBIT_ADMIN = "erlang-cookie", "rabbitmq-admin.conf"
PG_PASSWORD, OWNER_PASSWORD, HUB_PASSWORD, MONITOR_PASSWORD = (
    "postgres-password",
    "db-owner-password",
    "db-hub-password",
    "db-monitor-password",
)
BROKER_ADMIN_ENV, OWNER_ENV, HUB_ENV = "broker-admin.env", "db-owner.env", "db-hub.env"
MONITOR_ENV = "db-monitor.env"
DEPLOYMENT_SECRETS = (
    COOKIE, RABBIT_ADMIN, BROKER_ADMIN_ENV, PG_PASSWORD, OWNER_PASSWORD, HUB_PASSWORD,
    MONITOR_PASSWORD, OWNER_ENV, HUB_ENV, MONITOR_ENV,
)  # fmt: skip

_METRICS_ENV = {"RENKEI_METRICS_HOST": ANY, "RENKEI_METRICS_PORT": str(METRICS_PORT)}
_DONE = {"condition": "service_completed_successfully"}
_HEALTHY = {"condition": "service_healthy"}
_HEADER = """\
# The whole renkei network as one docker compose deployment: compose/README.md.
# Made by `renkei compose file` from the office registry; do not edit it by hand (a test
# compares the two): change renkei/compose.py or the registry, then run
#   .venv/bin/renkei compose file > compose/compose.yaml
# The monitor (issue 14) is identity `monitor`: its broker user (made by `renkei init` and
# `broker setup`) may read its span queue, the dead-letter queue and the alerts' queue, and
# write only its alerts (monitor.alerts); its database role only its schema and, read only,
# the access records. It also holds the files of `replayer`, the one broker user with the
# impersonator tag: it reads the dead-letter queue and sends a message back as its sender
# when an operator replays it in the console. Prometheus scrapes every service.
"""


_PROMETHEUS_HEADER = """\
# Prometheus in compose.yaml (service `prometheus`): every renkei service's GET /metrics and
# RabbitMQ's, the alert rules of rules.yml. Made by `renkei compose prometheus` with the
# compose file; do not edit it by hand (a test compares the two):
#   .venv/bin/renkei compose prometheus > compose/prometheus/prometheus.yml
"""


def deployment_secrets() -> dict[str, str]:
    """Fresh values of the secrets of the services that are not renkei's: file → content."""
    admin, owner, hub, monitor, superuser = (secrets.token_hex(24) for _ in range(5))
    db = f"postgres:{DB_PORT}/{DB}"
    management = ",".join(f"{r}:{MANAGEMENT_PORT}" for r in RABBITS)  # the first that answers
    return {
        COOKIE: secrets.token_hex(32),
        RABBIT_ADMIN: f"default_user = {BROKER_ADMIN}\ndefault_pass = {admin}\n",
        BROKER_ADMIN_ENV: f"RENKEI_BROKER_ADMIN_URL=http://{BROKER_ADMIN}:{admin}@{management}\n",
        PG_PASSWORD: superuser,
        OWNER_PASSWORD: owner,
        HUB_PASSWORD: hub,
        MONITOR_PASSWORD: monitor,
        OWNER_ENV: f"RENKEI_DB_URL=postgresql://{DB_OWNER}:{owner}@{db}\n",
        HUB_ENV: f"RENKEI_DB_URL=postgresql://{DB_HUB}:{hub}@{db}\n",
        MONITOR_ENV: f"RENKEI_DB_URL=postgresql://{DB_MONITOR}:{monitor}@{db}\n",
    }


def own_files(identity: str, *, prints: bool = False) -> list[str]:
    """The files of ``identity``'s folder that ``renkei init`` writes (``prints``: an office
    that signs certificate PDFs has its seal too, ``issuance.seal``)."""
    shared = [SHARED[identity][1]] if identity in SHARED else []
    seal = [SEAL_KEY, SEAL_CERT] if prints else []
    return [PRIVATE_KEY, BROKER_PASSWORD, *shared, *seal]


def _identity_secret(identity: str, name: str) -> dict[str, str]:
    return {"source": f"{identity}.{name}", "target": f"{STATE}/{identity}/{name}"}


def _juki_secrets(office: Office) -> list[dict[str, str]]:
    """A register's, J-LIS's or its CA's 住基ネット user (its own folder, ``hub/bus/juki.py``)."""
    if not JUKI_ROLES & set(office.roles):
        return []
    return [_identity_secret(juki_identity(office.code), f) for f in (PRIVATE_KEY, BROKER_PASSWORD)]


def _deployment_secret(name: str, target: str) -> dict[str, str]:
    return {"source": f"compose.{name}", "target": target}


def _health(target: str) -> dict[str, Any]:
    return {
        "test": ["CMD", "python", "-m", "renkei.health", target],
        "interval": "15s",
        "timeout": "10s",
        "retries": 3,
        "start_period": f"{STALE_AFTER:.0f}s",
    }


def _renkei(
    command: list[str],
    identity: str | None,
    *,
    env_file: str | None = None,
    environment: dict[str, str] | None = None,
    depends_on: dict[str, Any] | None = None,
    healthcheck: dict[str, Any] | None = None,
    secrets_: Iterable[dict[str, str]] = (),
    volumes: Iterable[str] = (),
    ports: Iterable[str] = (),
    once: bool = False,
    prints: bool = False,
) -> dict[str, Any]:
    """A service of the project's image: ``identity``'s folder and ``public/``, its ``.env``;
    a service that keeps running serves ``GET /metrics`` on ``METRICS_PORT`` for Prometheus."""
    files = own_files(identity, prints=prints) if identity else []
    own = [_identity_secret(identity, f) for f in files] if identity else []
    env = [_deployment_secret(env_file, ENV_FILE)] if env_file else []
    public = [f"{HOST_STATE}/public:{STATE}/public:ro"] if identity else []
    service: dict[str, Any] = {
        "image": IMAGE,
        "build": BUILD,
        "command": command,
        "environment": {
            "RENKEI_STATE_DIR": STATE,
            "RENKEI_BROKER_URL": BROKER_URL,
            "RENKEI_LOG_JSON": "true",
            **({} if once else _METRICS_ENV),
            **(environment or {}),
        },
        "secrets": [*own, *secrets_, *env],
        "volumes": [*public, *volumes],
        "read_only": True,
        "tmpfs": ["/tmp"],  # noqa: S108 — the container's own
        "restart": "no" if once else "unless-stopped",
    }
    if not service["volumes"]:
        del service["volumes"]
    if ports:
        service["ports"] = list(ports)
    if depends_on:
        service["depends_on"] = depends_on
    if healthcheck:
        service["healthcheck"] = healthcheck
    return service


def _bus_service(
    command: list[str], identity: str, env_file: str | None, **kw: Any
) -> dict[str, Any]:
    """A service on the bus alone: its health is its heartbeat."""
    ready = {"broker-setup": _DONE} | ({"db-migrate": _DONE} if env_file else {})
    return _renkei(
        [*command, "--heartbeat", HEARTBEAT],
        identity,
        env_file=env_file,
        depends_on=ready,
        healthcheck=_health(HEARTBEAT),
        **kw,
    )


def _rabbit(name: str) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": RABBIT_IMAGE,
        "hostname": name,  # the node is rabbit@<hostname>, as rabbitmq.conf lists them
        "entrypoint": ["bash", "/opt/renkei/start"],
        "command": ["rabbitmq-server"],
        "secrets": [
            _deployment_secret(COOKIE, f"/run/secrets/{COOKIE}"),
            _deployment_secret(RABBIT_ADMIN, f"/run/secrets/{RABBIT_ADMIN}"),
        ],
        "volumes": [
            "./rabbitmq/start:/opt/renkei/start:ro",
            "./rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro",
            f"{name}-data:/var/lib/rabbitmq",
        ],
        "healthcheck": {
            "test": ["CMD", "rabbitmq-diagnostics", "-q", "check_port_connectivity"],
            "interval": "30s",
            "timeout": "30s",
            "retries": 5,
            "start_period": "60s",
        },
        "restart": "unless-stopped",
    }
    if name != RABBITS[0]:  # the first node forms the cluster, the others join it
        service["depends_on"] = {RABBITS[0]: _HEALTHY}
    return service


def _postgres() -> dict[str, Any]:
    return {
        "image": POSTGRES_IMAGE,
        "entrypoint": ["bash", "/opt/renkei/start"],
        "command": ["postgres"],
        "environment": {
            "POSTGRES_DB": DB,
            "POSTGRES_PASSWORD_FILE": f"/run/renkei/{PG_PASSWORD}",
            "RENKEI_DB_OWNER": DB_OWNER,
            "RENKEI_DB_HUB_ROLE": DB_HUB,
            "RENKEI_DB_MONITOR_ROLE": DB_MONITOR,
        },
        "secrets": [
            _deployment_secret(name, f"/run/secrets/{name}")
            for name in (PG_PASSWORD, OWNER_PASSWORD, HUB_PASSWORD, MONITOR_PASSWORD)
        ],
        "volumes": [
            "./postgres/start:/opt/renkei/start:ro",
            "./postgres/roles.sql:/opt/renkei/roles.sql:ro",
            "./postgres/roles.sh:/docker-entrypoint-initdb.d/roles.sh:ro",
            "postgres-data:/var/lib/postgresql/data",
        ],
        "tmpfs": ["/run/renkei"],
        "healthcheck": {
            "test": ["CMD", "pg_isready", "-U", "postgres", "-d", DB],
            "interval": "10s",
            "timeout": "5s",
            "retries": 5,
        },
        "restart": "unless-stopped",
    }


def _services(registry: Registry, identities: list[str], hubs: int) -> dict[str, Any]:
    services: dict[str, Any] = {name: _rabbit(name) for name in RABBITS}
    services["postgres"] = _postgres()
    # the operator's steps, once: every broker password (and no other secret) for `broker
    # setup`; the hub's files for `db migrate`, which signs the records' first checkpoint
    services["broker-setup"] = _renkei(
        ["broker", "setup"],
        None,
        env_file=BROKER_ADMIN_ENV,
        secrets_=[_identity_secret(i, BROKER_PASSWORD) for i in identities],
        depends_on=dict.fromkeys(RABBITS, _HEALTHY),
        once=True,
    )
    services["db-migrate"] = _renkei(
        ["db", "migrate"],
        HUB,
        env_file=OWNER_ENV,
        environment={"RENKEI_DB_HUB_ROLE": DB_HUB, "RENKEI_DB_MONITOR_ROLE": DB_MONITOR},
        depends_on={"postgres": _HEALTHY},
        once=True,
    )
    # the hubs' channel to the token service (token_service/README.md): on compose's network
    # only, no port published on the host
    listen = ["--listen", f"{ANY}:{TOKEN_PORT}"]
    services["token"] = _bus_service(["run", "token", *listen], TOKEN, None)
    # the spans of every process and the oversight's alerts (schema `monitor`, made by `db
    # migrate`), the access records verified and read: as its own role; and the officials'
    # console on 8480 (officials and their actions in the same schema: no secret files)
    console = ["--host", ANY, "--port", str(CONSOLE_PORT)]
    console += ["--public-url", f"http://127.0.0.1:{CONSOLE_PORT}"]
    services["monitor"] = _bus_service(
        ["run", "monitor", *console],
        MONITOR,
        MONITOR_ENV,
        ports=[f"127.0.0.1:{CONSOLE_PORT}:{CONSOLE_PORT}"],
        # its second identity, for the console's dead-letter replay (monitor/README.md)
        secrets_=[_identity_secret(REPLAYER, f) for f in own_files(REPLAYER)],
    )
    for n in range(1, hubs + 1):
        services[f"hub-{n}"] = _bus_service(
            ["run", "hub"],
            HUB,
            HUB_ENV,
            environment={"RENKEI_WITNESS_DIR": WITNESS, "RENKEI_TOKEN_ADDRESS": TOKEN_ADDRESS},
            volumes=[f"hub-{n}-witness:{WITNESS}"],
        )
    ready = {"broker-setup": _DONE, "db-migrate": _DONE}
    # the URL in certificates (CRLs, OCSP) is the one the network's services reach
    pki = ["pki", "serve", "--host", ANY, "--port", str(PKI_PORT)]
    services["pki"] = _renkei(
        [*pki, "--public-url", f"http://pki:{PKI_PORT}"],
        PKI_OFFICE,
        env_file=OWNER_ENV,
        volumes=["pki-state:/state/pki", "ca-certs:/state/pki/certs"],
        ports=[f"127.0.0.1:{PKI_PORT}:{PKI_PORT}"],
        depends_on=ready,
        healthcheck=_health(f"http://127.0.0.1:{PKI_PORT}/ca/chain.pem"),
        secrets_=_juki_secrets(registry.get(PKI_OFFICE)),  # J-LIS's notices, on 住基ネット
    )
    # the origin browsers see; logins are checked against the CA's chain and its CRLs
    portal = ["portal", "serve", "--host", ANY, "--port", str(PORTAL_PORT)]
    portal += ["--public-url", f"http://127.0.0.1:{PORTAL_PORT}"]
    services["portal"] = _renkei(
        [*portal, "--ca-file", f"{STATE}/pki/certs/chain.pem"],
        PORTAL,
        env_file=OWNER_ENV,
        volumes=["ca-certs:/state/pki/certs:ro"],
        ports=[f"127.0.0.1:{PORTAL_PORT}:{PORTAL_PORT}"],
        depends_on={**ready, "pki": _HEALTHY},
        healthcheck=_health(f"http://127.0.0.1:{PORTAL_PORT}/static/portal.css"),
    )
    # コンビニ交付: the centre's API for kiosks; cards checked against the CA's chain and CRLs
    centre = ["run", "issuance-centre", "--host", ANY, "--port", str(CENTRE_PORT)]
    services["issuance-centre"] = _renkei(
        [*centre, "--ca-file", f"{STATE}/pki/certs/chain.pem", "--heartbeat", HEARTBEAT],
        CENTRE,
        env_file=OWNER_ENV,
        volumes=["ca-certs:/state/pki/certs:ro"],
        ports=[f"127.0.0.1:{CENTRE_PORT}:{CENTRE_PORT}"],
        depends_on={**ready, "pki": _HEALTHY},
        healthcheck=_health(HEARTBEAT),
    )
    for office in registry:
        if office.code not in (PKI_OFFICE, PORTAL, CENTRE):  # those have their own above
            services[f"office-{office.code}"] = _bus_service(
                ["run", "office", office.code],
                office.code,
                OWNER_ENV,
                prints=bool(PRINTED & set(office.provides)),
                secrets_=_juki_secrets(office),
            )
    services["prometheus"] = _prometheus(scraped(services))
    return services


def scraped(services: dict[str, Any]) -> list[str]:
    """The services Prometheus scrapes: every renkei service that keeps running."""
    return [
        name
        for name, s in services.items()
        if s.get("image") == IMAGE and s["environment"].get("RENKEI_METRICS_PORT")
    ]


def _prometheus(targets: list[str]) -> dict[str, Any]:
    """Prometheus with compose/prometheus/ (its configuration, the alert rules), bound to
    127.0.0.1; it starts once the services it scrapes have started."""
    return {
        "image": PROMETHEUS_IMAGE,
        "command": [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=15d",
            f"--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}",
        ],
        "volumes": [
            "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
            "./prometheus/rules.yml:/etc/prometheus/rules.yml:ro",
            "prometheus-data:/prometheus",
        ],
        "ports": [f"127.0.0.1:{PROMETHEUS_PORT}:{PROMETHEUS_PORT}"],
        "depends_on": {
            **dict.fromkeys(RABBITS, _HEALTHY),
            **{t: {"condition": "service_started"} for t in targets},
        },
        "healthcheck": {
            "test": [
                "CMD",
                "wget",
                "-q",
                "-O",
                "/dev/null",
                f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready",
            ],
            "interval": "15s",
            "timeout": "10s",
            "retries": 3,
        },
        "restart": "unless-stopped",
    }


def prometheus_config(targets: list[str]) -> dict[str, Any]:
    """compose/prometheus/prometheus.yml: every renkei service's /metrics (job = its service
    name), RabbitMQ's aggregated and per-queue metrics, the alert rules beside it."""
    jobs: list[dict[str, Any]] = [
        {"job_name": t, "static_configs": [{"targets": [f"{t}:{METRICS_PORT}"]}]} for t in targets
    ]
    rabbits = [f"{r}:{RABBIT_METRICS_PORT}" for r in RABBITS]
    jobs.append({"job_name": "rabbitmq", "static_configs": [{"targets": rabbits}]})
    jobs.append(
        {
            "job_name": "rabbitmq-detailed",
            "metrics_path": "/metrics/detailed",
            "params": {"family": ["queue_coarse_metrics", "queue_consumer_count"]},
            "static_configs": [{"targets": rabbits}],
        }
    )
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": ["rules.yml"],
        "scrape_configs": jobs,
    }


def compose_file(registry: Registry, identities: list[str], hubs: int = HUBS) -> dict[str, Any]:
    """The compose file of a network of ``registry`` (``identities``: every broker identity)."""
    services = _services(registry, identities, hubs)
    used = sorted(
        {s["source"] for service in services.values() for s in service.get("secrets", [])}
    )
    sources = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    named = sorted(v for v in sources if not v.startswith((".", "/", "$")))  # not a host path
    return {
        "services": services,
        "volumes": {name: {} for name in named},
        "secrets": {name: {"file": _secret_file(name)} for name in used},
    }


def _secret_file(name: str) -> str:
    """The file on the operator's host behind the secret ``name`` (``IDENTITY.FILE``)."""
    folder, _, file = name.partition(".")
    return f"{HOST_STATE}/{folder}/{file}"


class _Dumper(yaml.SafeDumper):
    """Every service spelled out (no anchors); short lists of words and small mappings of
    words on one line (``[run, hub]``, ``{source: …, target: …}``)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _flat(values: Iterable[Any]) -> bool:
    return all(isinstance(v, str | int) for v in values)


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = _flat(data) and len(", ".join(map(str, data))) <= 72
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    flow = len(data) <= 2 and _flat(data.values()) and bool(data)
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(list, _list)
_Dumper.add_representer(dict, _dict)


def _yaml(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def render(doc: dict[str, Any]) -> str:
    """The compose file as YAML, with its header."""
    return _HEADER + _yaml(doc)


def render_prometheus(doc: dict[str, Any]) -> str:
    """compose/prometheus/prometheus.yml, with its header."""
    return _PROMETHEUS_HEADER + _yaml(doc)
