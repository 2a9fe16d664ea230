"""The console's pages: each route, the roles that may open it, and the navigation.

| route | roles | what |
|---|---|---|
| ``GET /login``, ``POST /login`` | anyone | sign-in: name, password, TOTP code |
| ``POST /logout`` | both | end the session |
| ``GET /`` | both | to the role's first page |
| ``GET /search`` | operator | message flows by trace id, office, affair, outcome, period |
| ``GET /trace/{trace_id}`` | operator | one flow's spans as a waterfall |
| ``GET /map``, ``GET /map/events`` | operator | the live map, and its feed (Server-Sent Events) |
| ``GET /alerts``, ``GET /alerts/events`` | both | the alerts, open and acknowledged; their feed |
| ``POST /alerts/ack`` | auditor | acknowledge (「確認」) an open alert |
| ``GET /chain``, ``GET /chain/events`` | both | the access-record chain as verified, and its feed |
| ``GET /dead`` | operator | the dead-letter queue: each message's reason, never its body |
| ``GET /dead/replay?message=ID``, ``POST /dead/replay`` | operator | confirm, then replay one |
| ``GET /stats`` | auditor | access counts per office, affair and outcome over a period |
| ``GET /actions`` | auditor | every console action, newest first |
"""

from __future__ import annotations

from aiohttp import web

from monitor.console import dead_views, oversight_views, views

__all__ = ["NAV", "add"]

NAV: tuple[tuple[str, str, frozenset[str]], ...] = (  # (path, label, roles)
    ("/search", "Search", views.OPERATOR),
    ("/map", "Live map", views.OPERATOR),
    ("/dead", "Dead letters", views.OPERATOR),
    ("/alerts", "Alerts", views.BOTH),
    ("/chain", "Record chain", views.BOTH),
    ("/stats", "Access statistics", views.AUDITOR),
    ("/actions", "Console actions", views.AUDITOR),
)


def add(router: web.UrlDispatcher) -> None:
    router.add_get("/login", views.sign_in_page)
    router.add_post("/login", views.sign_in)
    router.add_post("/logout", views.sign_out)
    router.add_get("/", views.home)
    router.add_get("/search", views.search)
    router.add_get("/trace/{trace_id}", views.trace)
    router.add_get("/map", views.live_map)
    router.add_get("/map/events", views.map_events)
    router.add_get("/dead", dead_views.dead)
    router.add_get("/dead/replay", dead_views.confirm)
    router.add_post("/dead/replay", dead_views.replay)
    router.add_get("/alerts", oversight_views.alerts)
    router.add_get("/alerts/events", oversight_views.alert_events)
    router.add_post("/alerts/ack", oversight_views.acknowledge)
    router.add_get("/chain", oversight_views.chain)
    router.add_get("/chain/events", oversight_views.chain_events)
    router.add_get("/stats", views.stats)
    router.add_get("/actions", views.actions)
