"""A claim season as data: its calendar, its daily and hourly shapes, its mix of messages.

A season file (``loadtest/seasons/NAME.toml``) is checked against the models below; a file
that breaks them is refused with :class:`BadSeason` naming the field (``traffic[2].share``).
Pure: reading a file is the only I/O, and :func:`parse_season` takes the text.

Each traffic stream is one kind of message the network carries today:

- ``query``: an office asks another (or the hub finds the provider) for items about one of its
  people, picked from a collection of its own store (``collection``);
- ``change``: a resident register reports a change event (異動) about one of its residents,
  each person at most once in a replay (a move out ends the register's holding);
- ``portal_page``: a resident's page at the portal (``history``: やりとり履歴, one
  ``disclosure`` query to the hub; ``my_info``: わたしの情報, the holders then one query per
  office holding them);
- ``portal_login``: a resident logs in to the portal with their card (the certificate checked,
  J-LIS names the holder, the register their name) and reads やりとり履歴 and お知らせ; with
  ``revoked``, a card reported lost (紛失届: both certificates revoked before the replay),
  whose every login the portal must refuse;
- ``application``: a resident files a signed application in the portal (``application``: its
  kind, ``form``: what they typed), each person at most once in a replay; the portal asks the
  hub where, the office takes it (and processes it, where it does: a 児童手当 認定請求; a
  転出届 of the moving one-stop, ``moving``, is filed by the register as its move out — the
  change event to every holder and to the register moved to, and J-LIS's notice by which the
  CA revokes the signature certificate).

Logins and applications need the residents' cards: their people are those ``held_by`` an office
in its ``collection`` (default: the portal's people, J-LIS's residents), each given a card. The
cards a stream changes (``revoked`` logins, ``moving`` applications: `Traffic.own_cards`) are
residents no other stream has a card for.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadtest.exceptions import BadSeason, UnknownSeason

__all__ = [
    "CARD_KINDS",
    "SEASONS_DIR",
    "Calendar",
    "Population",
    "Season",
    "Shape",
    "Traffic",
    "list_seasons",
    "load_season",
    "parse_season",
]

SEASONS_DIR = Path(__file__).with_name("seasons")
Weight = Annotated[float, Field(ge=0, le=1000)]
Code = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Kind = Literal["query", "change", "portal_page", "portal_login", "application"]
CARD_KINDS: frozenset[str] = frozenset({"portal_login", "application"})  # a card per person
FormValue = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Shape(_Model):
    """When messages come: a weight per weekday (Monday first) and per hour of the day."""

    weekdays: tuple[Weight, Weight, Weight, Weight, Weight, Weight, Weight]
    hours: Annotated[tuple[Weight, ...], Field(min_length=24, max_length=24)]
    source: str = ""  # which FACTS.md lines it follows, with their marks

    @model_validator(mode="after")
    def _some(self) -> Shape:
        if not any(self.weekdays) or not any(self.hours):
            raise ValueError("weekdays and hours each need a weight above 0")
        return self


class Calendar(_Model):
    """The stretch of the year the season covers, and how busy each of its days is."""

    start: dt.date
    days: Annotated[int, Field(ge=1, le=120)]
    day_weights: tuple[Weight, ...] = ()  # one per day; empty: every day 1

    @model_validator(mode="after")
    def _weights(self) -> Calendar:
        if self.day_weights and len(self.day_weights) != self.days:
            raise ValueError(f"day_weights has {len(self.day_weights)} values for {self.days} days")
        return self

    def day_weight(self, day: int) -> float:
        return self.day_weights[day] if self.day_weights else 1.0

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)


class Population(_Model):
    """The population the season is written for: what `renkei population generate` makes."""

    residents: Annotated[int, Field(ge=100, le=20_000_000)]
    today: dt.date
    seed: int = 1


class Traffic(_Model):
    """One stream of messages: what kind, who sends it, its share and its shape."""

    name: Name
    kind: Kind
    share: Annotated[float, Field(gt=0, le=1)]
    shape: Name
    office: Code  # the sender: the asking office, the register, or the portal
    collection: Name = "residents"  # where the sender's people are in its own store
    affair: str = ""
    provider: Code | None = None  # None: the hub finds who holds the items
    items: tuple[Name, ...] = ()
    params: dict[Name, str | int] = Field(default_factory=dict)
    change: Literal["moved_out", "household", "death"] | None = None
    detail: dict[Name, str] = Field(default_factory=dict)
    page: Literal["history", "my_info"] | None = None
    application: Literal["child_allowance", "tax_return", "moving"] | None = None
    form: Annotated[dict[Name, FormValue], Field(max_length=20)] = Field(default_factory=dict)
    held_by: Code | None = None  # logins, applications: whose people (in ``collection``)
    revoked: bool = False  # logins: with cards reported lost, each login to be refused

    @property
    def own_cards(self) -> bool:
        """Whether the stream changes its residents' cards (revokes a certificate): then they
        are residents no other stream logs in or files with."""
        return self.revoked or self.application == "moving"

    @model_validator(mode="after")
    def _complete(self) -> Traffic:
        need = {
            "query": ("affair", "items"),
            "change": ("change",),
            "portal_page": ("page",),
            "portal_login": ("held_by",),
            "application": ("application", "form", "held_by"),
        }[self.kind]
        for name in need:
            if not getattr(self, name):
                raise ValueError(f"a {self.kind} stream needs {name!r}")
        if self.revoked and self.kind != "portal_login":
            raise ValueError("only a portal_login stream is of revoked cards")
        return self


class Season(_Model):
    name: Code
    title: str
    about: str = ""
    daily_messages: Annotated[int, Field(ge=1, le=100_000_000)]  # for `population`, scale 1
    population: Population
    calendar: Calendar
    shapes: dict[Name, Shape]
    traffic: Annotated[tuple[Traffic, ...], Field(min_length=1, max_length=32)]
    sources: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Season:
        for i, t in enumerate(self.traffic):
            if t.shape not in self.shapes:
                raise ValueError(f"traffic[{i}].shape: no shape named {t.shape!r}")
        names = [t.name for t in self.traffic]
        if len(set(names)) != len(names):
            raise ValueError("traffic: two streams with the same name")
        total = sum(t.share for t in self.traffic)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"traffic: the shares add up to {total:.4f}, not 1")
        return self

    def offices(self) -> list[str]:
        """The offices that send this season's messages (the replayer plays them)."""
        return sorted({t.office for t in self.traffic})

    def without(self, kinds: frozenset[str]) -> Season:
        """The season without the streams of ``kinds``, the others' shares scaled up to 1 and
        the daily volume down with them (what is left of it sends as before)."""
        kept = tuple(t for t in self.traffic if t.kind not in kinds)
        if len(kept) == len(self.traffic):
            return self
        if not kept:
            raise BadSeason(f"{self.name}: nothing left without its {', '.join(sorted(kinds))}")
        total = sum(t.share for t in kept)
        return self.model_copy(
            update={
                "traffic": tuple(t.model_copy(update={"share": t.share / total}) for t in kept),
                "daily_messages": max(1, round(self.daily_messages * total)),
            }
        )


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the file)"


def parse_season(text: str, origin: str = "<season>") -> Season:
    """The season in ``text``; :class:`BadSeason` naming the first field at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadSeason(f"{origin}: not TOML: {exc}") from None
    try:
        return Season.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(tuple(first["loc"]))
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise BadSeason(f"{origin}: {where}: {first['msg']}{more}") from None


def load_season(name_or_path: str, directory: Path = SEASONS_DIR) -> Season:
    """A season by name (a file of ``directory``) or by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = directory / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(name for name, _ in list_seasons(directory)) or "none"
        raise UnknownSeason(f"no season {name_or_path!r} (known: {known})")
    if path.stat().st_size > 256 * 1024:
        raise BadSeason(f"{path.name}: larger than 256 KiB: not a season file")
    return parse_season(path.read_text(encoding="utf-8"), path.name)


def list_seasons(directory: Path = SEASONS_DIR) -> Iterator[tuple[str, Path]]:
    for path in sorted(directory.glob("*.toml")):
        yield path.stem, path
