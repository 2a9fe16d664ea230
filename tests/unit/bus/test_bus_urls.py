"""Broker URLs with one or several nodes (``hub.bus.urls``), and the settings built on them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from hub.bus import BrokerUrl
from renkei.settings import Settings

CLUSTER = "amqp://guest:guest@rabbit1:5672,rabbit2:5672,rabbit3:5672/"


def test_one_url_per_node_all_else_shared() -> None:
    broker = BrokerUrl.parse("amqp://u:p%40x@[::1]:5672,h2:5673,10.0.0.1/v%2Fh?heartbeat=5")
    assert broker.hosts == ("[::1]:5672", "h2:5673", "10.0.0.1")
    assert [(n.host, n.port) for n in broker.nodes] == [
        ("::1", 5672),
        ("h2", 5673),
        ("10.0.0.1", None),
    ]
    for node in broker.nodes:
        assert (node.user, node.password, node.path, node.query) == (
            "u",
            "p@x",
            "/v/h",
            {"heartbeat": "5"},
        )
    assert str(broker) == "amqp://u:p%40x@[::1]:5672,h2:5673,10.0.0.1/v%2Fh?heartbeat=5"
    assert broker.redacted() == "amqp://u:***@[::1]:5672,h2:5673,10.0.0.1/v%2Fh?heartbeat=5"


def test_a_single_host_is_a_cluster_of_one() -> None:
    broker = BrokerUrl.parse("amqp://guest:guest@127.0.0.1:5672/")
    assert broker.nodes == (URL("amqp://guest:guest@127.0.0.1:5672/"),)
    assert str(broker) == "amqp://guest:guest@127.0.0.1:5672/"
    assert str(BrokerUrl.parse("amqp://h")) == "amqp://h"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("amqp://u:secret@h1:5672,,h3/", "host 2 of the broker URL is empty"),
        ("amqp://u:secret@h1:x/", "host 1 of the broker URL: "),
        ("amqp://u:secret@h1,h2:99999/", "host 2 of the broker URL: "),
        ("amqp://u:secret@/", "host 1 of the broker URL is empty"),
        ("127.0.0.1:5672", "a broker URL needs a scheme and a host"),
    ],
)
def test_a_bad_url_is_a_clear_error_without_the_password(text: str, error: str) -> None:
    with pytest.raises(ValueError, match="like amqp://user:password@host1:5672") as caught:
        BrokerUrl.parse(text)
    assert str(caught.value).startswith(error)
    assert "secret" not in str(caught.value)


def test_settings_build_each_identity_url_on_every_node() -> None:
    settings = Settings(broker_url=CLUSTER, broker_vhost="renkei", broker_user_prefix="p-")
    url = settings.broker_url_for("hub", "pw")
    assert url == "amqp://p-hub:pw@rabbit1:5672,rabbit2:5672,rabbit3:5672/renkei"
    assert settings.admin_url == "http://guest:guest@rabbit1:15672,rabbit2:15672,rabbit3:15672"


def test_vhost_slash_ipv6_and_a_password_needing_quotes_round_trip() -> None:
    """The URLs were f-strings once: a vhost of ``/`` or an IPv6 host broke them."""
    password = "p@ss:w/rd%,?#[]"
    settings = Settings(
        broker_url="amqp://admin:a%40b@[::1]:5672,[fe80::2]:5673/", broker_vhost="/"
    )
    url = settings.broker_url_for("token", password)
    assert url.startswith("amqp://token:")
    assert url.endswith("@[::1]:5672,[fe80::2]:5673/%2F")
    for node in BrokerUrl.parse(url).nodes:
        assert (node.user, node.password) == ("token", password)
        assert node.path == "//"  # aiormq reads the vhost as the path less its first "/"
    admin = BrokerUrl.parse(settings.admin_url)
    assert [(n.scheme, n.host, n.port, n.user, n.password) for n in admin.nodes] == [
        ("http", "::1", 15672, "admin", "a@b"),
        ("http", "fe80::2", 15672, "admin", "a@b"),
    ]


def test_the_admin_url_defaults_to_guest_and_an_explicit_one_wins() -> None:
    assert Settings(broker_url="amqp://h1,h2/").admin_url == "http://guest:guest@h1:15672,h2:15672"
    explicit = "http://a:b@127.0.0.1:15681,127.0.0.1:15682"
    assert Settings(broker_url=CLUSTER, broker_admin_url=explicit).admin_url == explicit
    with pytest.raises(ValueError, match="no broker configured"):
        Settings(broker_url=None).broker_url_for("hub", "pw")


@given(
    user=st.text(min_size=1, max_size=20),
    password=st.text(max_size=20),
    vhost=st.text(max_size=20),
    hosts=st.lists(st.sampled_from(["h", "[::1]", "10.0.0.7", "rabbit-2"]), min_size=1, max_size=4),
    ports=st.lists(st.integers(1, 65535), min_size=4, max_size=4),
)
def test_any_login_and_vhost_round_trip_on_every_node(
    user: str, password: str, vhost: str, hosts: list[str], ports: list[int]
) -> None:
    authority = ",".join(f"{h}:{p}" for h, p in zip(hosts, ports, strict=False))
    broker = BrokerUrl.parse(f"amqp://x@{authority}/").with_login(user, password).with_vhost(vhost)
    again = BrokerUrl.parse(str(broker))
    assert [n.port for n in again.nodes] == ports[: len(hosts)]
    for node in again.nodes:
        assert (node.user, node.password) == (user, password)
        assert node.path[1:] == vhost
