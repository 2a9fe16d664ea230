"""How long a resident's certificate is valid, and who may have one.

- Signature certificate: until the end (23:59:59 JST) of the fifth birthday after the day of
  issue — the JPKI rule (発行日後5回目の誕生日). A 29 February birthday falls on 28 February
  in common years. Residents under 15 get none (JPKI issues them none in principle).
- Authentication certificate: five years from the day of issue, to the end of that day JST.
  JPKI uses the fifth birthday here too; we do not, because the notAfter of a certificate that
  carries no personal data would then tell the holder's birthday to every relying party.

Pure: the caller passes the time of issue.
"""

from __future__ import annotations

import datetime as dt

from pki.exceptions import PolicyRefused
from pki.profiles import CertKind

__all__ = ["JST", "MIN_SIGNATURE_AGE", "VALID_YEARS", "validity"]

JST = dt.timezone(dt.timedelta(hours=9), "JST")
VALID_YEARS = 5
MIN_SIGNATURE_AGE = 15


def _on(year: int, month: int, day: int) -> dt.date:
    if (month, day) == (2, 29) and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return dt.date(year, 2, 28)
    return dt.date(year, month, day)


def _end_of_day_jst(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=JST).astimezone(dt.UTC)


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def validity(
    kind: CertKind, issued_at: dt.datetime, birth_date: dt.date | None
) -> tuple[dt.datetime, dt.datetime]:
    """(notBefore, notAfter) in UTC, whole seconds."""
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    start = issued_at.astimezone(dt.UTC).replace(microsecond=0)
    today = start.astimezone(JST).date()
    if kind is CertKind.AUTHENTICATION:
        return start, _end_of_day_jst(_on(today.year + VALID_YEARS, today.month, today.day))
    if birth_date is None:
        raise ValueError("a signature certificate's validity needs the birth date")
    if birth_date > today:
        raise PolicyRefused("birth date is in the future")
    if _age(birth_date, today) < MIN_SIGNATURE_AGE:
        raise PolicyRefused(f"no signature certificate for residents under {MIN_SIGNATURE_AGE}")
    first = (
        today.year if _on(today.year, birth_date.month, birth_date.day) > today else today.year + 1
    )
    fifth = _on(first + VALID_YEARS - 1, birth_date.month, birth_date.day)
    return start, _end_of_day_jst(fifth)
