"""The resident portal (マイナポータル).

Card login, やりとり履歴, わたしの情報, お知らせ and one-stop applications.

``portal.web.create_app(backend, checker, bridge_url=…, public_origin=…)`` builds the aiohttp
application; ``portal.model`` is everything it needs from the outside world. ``portal.office``
is the portal's office on the network (the real ``Backend``, on ``hub.node``).
"""

from __future__ import annotations

from portal.exceptions import LoginRefused, Unavailable
from portal.model import (
    APPLICATIONS,
    AccessEntry,
    ApplicationKind,
    ApplicationStatus,
    Backend,
    CertificateChecker,
    CheckedCertificate,
    NoticeEntry,
    OfficeData,
)

__all__ = [
    "APPLICATIONS",
    "AccessEntry",
    "ApplicationKind",
    "ApplicationStatus",
    "Backend",
    "CertificateChecker",
    "CheckedCertificate",
    "LoginRefused",
    "NoticeEntry",
    "OfficeData",
    "Unavailable",
]
