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
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "REGIONS",
    "REGION_SLUGS",
    "LocalAuthority",
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
