"""Settings, read once in the entry point from the environment (``RENKEI_*``) or ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.bus import INBOX_MAX_BYTES, INBOX_MAX_LENGTH, BrokerUrl
from hub.bus.juki import JUKI_VHOST_SUFFIX

__all__ = ["TOKEN_PORT", "Settings", "parse_addresses"]

TOKEN_PORT = 8460  # the token service's channel for the hub's processes (token_service/README.md)


def parse_addresses(text: str) -> list[tuple[str, int]]:
    """``host:port[,host:port…]`` as (host, port) pairs (a host alone: ``TOKEN_PORT``; an IPv6
    host in brackets); ``ValueError`` if one is not an address."""
    found = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        host, sep, port = part.rpartition(":")
        if not sep or "]" in port:
            host, port = part, str(TOKEN_PORT)
        host = host.removeprefix("[").removesuffix("]")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"not a host:port address: {part!r}")
        found.append((host, int(port)))
    if not found:
        raise ValueError("no address")
    return found


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RENKEI_", env_file=".env", extra="ignore")

    # amqp://user:pass@host:5672/ — None: the in-process bus. A cluster's nodes go
    # comma-separated in the authority, as libpq takes them: amqp://u:p@h1:5672,h2:5672,h3:5672/
    broker_url: str | None = None
    # http://user:pass@host:15672 (several hosts as above) — default: broker_url's hosts on 15672
    broker_admin_url: str | None = None
    broker_vhost: str = "renkei"
    # RabbitMQ users are broker-wide: a prefix keeps deployments sharing a broker apart
    broker_user_prefix: str = ""
    # what a process publishes to one queue in one turn of its loop goes as one message (a
    # bundle, hub/bus/README.md); false while processes of a release that cannot read bundles
    # still run (docs/operations.md, upgrades)
    broker_bundles: bool = True
    db_url: str | None = None  # postgresql://… — None: in-memory stores
    # the token service's channel (host:port): where `renkei run token` listens (--listen
    # overrides), and where the hub connects — several copies comma-separated, taken in turn.
    # On the in-process bus (the embedded demo) it is a free port of 127.0.0.1 instead
    token_address: str = f"127.0.0.1:{TOKEN_PORT}"
    # the role the hub connects as (its db_url's user): `db migrate` grants it only SELECT and
    # INSERT on the access records; None: no grants (the hub uses the migrating role's rights)
    db_hub_role: str | None = None
    # where the hub appends every seal and checkpoint it signs, outside the database (the
    # oversight role's copy); `records verify` compares with it. None: no witness
    witness_dir: Path | None = None
    state_dir: Path = Path("var")  # keys and secrets made by `renkei init`
    legal_table: Path | None = None  # a legal table file; None: the packaged model of 別表第二
    offices: Path | None = None  # an office registry file; None: the packaged registry
    quotas: Path | None = None  # a quotas file (queries, enrollments); None: the packaged one
    # the hub's inbound queues (`broker setup`'s policy renkei-inbox): past either bound the
    # broker refuses publishes (reject-publish), so a flooding office is nacked, not everyone
    inbox_max_length: int = INBOX_MAX_LENGTH
    inbox_max_bytes: int = INBOX_MAX_BYTES
    # every process sends its spans over the bus to the monitor (`renkei run monitor`); when
    # the monitor is down or behind they are dropped and counted, never in a query's way
    tracing: bool = True
    monitor_retention_days: float = 30.0  # spans older than this are removed by the monitor
    # the monitor's anomaly rules (None: the packaged monitor/anomaly/rules.toml), how often
    # it verifies the new access records and runs the rules over them, and who may
    # acknowledge its alerts from `renkei monitor alerts --ack` (the console has its own roles)
    monitor_rules: Path | None = None
    monitor_interval: float = 5.0
    monitor_auditors: list[str] = []
    # the monitor's own database role: `db migrate` lets it write its schema and read the
    # access records, nothing more (None: no grants)
    db_monitor_role: str | None = None
    # GET /metrics (Prometheus) on this port for `renkei run`, `pki serve`, `portal serve`
    # (--metrics-port overrides); None: no endpoint, and the hooks count nothing
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_level: str = "info"
    log_json: bool | None = None  # None: JSON unless stderr is a terminal

    @field_validator("token_address")
    @classmethod
    def _addresses(cls, value: str) -> str:
        parse_addresses(value)
        return value

    @property
    def token_addresses(self) -> list[tuple[str, int]]:
        return parse_addresses(self.token_address)

    @property
    def admin_url(self) -> str:
        """The management API: ``broker_admin_url``, or ``broker_url``'s hosts and login (guest
        by default) on port 15672."""
        if self.broker_admin_url:
            return self.broker_admin_url
        broker = self._broker()
        first = broker.nodes[0]
        login = broker.with_login(first.user or "guest", first.password or "guest")
        return str(login.with_service("http", 15672))

    def broker_url_for(self, identity: str, password: str) -> str:
        """The broker URL (every node of it) as ``identity``'s user, prefixed, in this
        deployment's vhost."""
        user = self.broker_user_prefix + identity
        return str(self._broker().with_login(user, password).with_vhost(self.broker_vhost))

    @property
    def juki_vhost(self) -> str:
        """住基ネット's vhost: a network of its own beside the deployment's (hub/bus/juki.py)."""
        return self.broker_vhost + JUKI_VHOST_SUFFIX

    def juki_url_for(self, identity: str, password: str) -> str:
        """As :meth:`broker_url_for`, in 住基ネット's vhost."""
        user = self.broker_user_prefix + identity
        return str(self._broker().with_login(user, password).with_vhost(self.juki_vhost))

    def _broker(self) -> BrokerUrl:
        if not self.broker_url:
            raise ValueError("no broker configured")
        return BrokerUrl.parse(self.broker_url)
