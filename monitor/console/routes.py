"""The console's pages: each route, the roles that may open it, and the navigation.

| route | roles | what |
|---|---|---|
| ``GET /login``, ``POST /login`` | anyone | sign-in: name, password, TOTP code |
| ``POST /logout`` | both | end the session |
| ``GET /`` | both | to the role's first page |
| ``GET /search`` | operator | message flows by trace id, office, affair, outcome, period |
| ``GET /trace/{trace_id}`` | operator | one flow's spans as a waterfall |
| ``GET /map``, ``GET /map/events`` | operator | the live map, and its feed (Server-Sent Events) |
| ``GET /stats`` | auditor | access counts per office, affair and outcome over a period |
| ``GET /actions`` | auditor | every console action, newest first |

The alerts (anomaly rules, acknowledged by auditors) and the access-record chain's state come
with ``monitor/anomaly`` and ``monitor/chain.py``: their routes go into ``add`` and their
entries into ``NAV`` here, with the roles that may see them.
"""

from __future__ import annotations

from aiohttp import web

from monitor.console import views

__all__ = ["NAV", "add"]

NAV: tuple[tuple[str, str, frozenset[str]], ...] = (  # (path, label, roles)
    ("/search", "Search", views.OPERATOR),
    ("/map", "Live map", views.OPERATOR),
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
    router.add_get("/stats", views.stats)
    router.add_get("/actions", views.actions)
