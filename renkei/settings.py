"""Settings, read once in the entry point from the environment (``RENKEI_*``) or ``.env``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RENKEI_", env_file=".env", extra="ignore")

    broker_url: str | None = None  # amqp://user:pass@host:5672/ — None: the in-process bus
    broker_admin_url: str | None = None  # http://user:pass@host:15672 — default: from broker_url
    broker_vhost: str = "renkei"
    # RabbitMQ users are broker-wide: a prefix keeps deployments sharing a broker apart
    broker_user_prefix: str = ""
    db_url: str | None = None  # postgresql://… — None: in-memory stores
    # the role the hub connects as (its db_url's user): `db migrate` grants it only SELECT and
    # INSERT on the access records; None: no grants (the hub uses the migrating role's rights)
    db_hub_role: str | None = None
    # where the hub appends every seal and checkpoint it signs, outside the database (the
    # oversight role's copy); `records verify` compares with it. None: no witness
    witness_dir: Path | None = None
    state_dir: Path = Path("var")  # keys and secrets made by `renkei init`
    legal_table: Path | None = None  # a legal table file; None: the packaged model of 別表第二
    offices: Path | None = None  # an office registry file; None: the packaged registry
    # enrollments per office and hub worker: at most this many at once, refilled per second
    enroll_burst: int = 1000
    enroll_per_second: float = 1.0
    # GET /metrics (Prometheus) on this port for `renkei run`, `pki serve`, `portal serve`
    # (--metrics-port overrides); None: no endpoint, and the hooks count nothing
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_level: str = "info"
    log_json: bool | None = None  # None: JSON unless stderr is a terminal

    @property
    def admin_url(self) -> str:
        if self.broker_admin_url:
            return self.broker_admin_url
        if not self.broker_url:
            raise ValueError("no broker configured")
        parts = urlsplit(self.broker_url)
        auth = f"{parts.username or 'guest'}:{parts.password or 'guest'}@"
        return f"http://{auth}{parts.hostname or '127.0.0.1'}:15672"

    def broker_url_for(self, identity: str, password: str) -> str:
        """The broker URL as ``identity``'s user (prefixed), in this deployment's vhost."""
        user = self.broker_user_prefix + identity
        if not self.broker_url:
            raise ValueError("no broker configured")
        parts = urlsplit(self.broker_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{user}:{password}@{parts.hostname}{port}/{self.broker_vhost}"
