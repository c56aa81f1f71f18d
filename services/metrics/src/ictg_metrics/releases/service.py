"""Publishing a release: which month is due, computing it once, and its revision notes.

A release `2026-11` is the catalogue counted as at the end of 30 November 2026 (London), computed once
any time after that month is over and stored; it is never recomputed, so the same question always gets
the same published answer (asked again, a perturbed table would otherwise change with every late record
and could be differenced). A later release counts everything again as at its own month's end: where a
cell of an earlier period comes out differently (a late record, a correction, a child's exit recorded
after the fact), its revision notes list the cell, the value the previous release published and the new
one.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import clock

from ..children.timeliness import QUANTILES, STATS
from ..dimensions import SERVICE_START
from ..disclosure.cellkey import Ptable
from . import store
from .catalogue import TABLES
from .compute import compute_release, counts_of
from .periods import month_end, parse_release, period_end

log = logging.getLogger(__name__)
QUANTILE_FIELDS = tuple(f"{s}_{k}" for s in STATS for k in QUANTILES)


class NotDue(ValueError):
    """A release for a month not over yet, or before the service began."""


def last_complete(now: datetime) -> str:
    """The release due at `now`: the last month already over in London."""
    first_of_this = clock.london_date(now).replace(day=1)
    return f"{first_of_this - timedelta(days=1):%Y-%m}"


def check_due(name: str, now: datetime) -> date:
    """The as-at date of release `name`, if it may be computed at `now`."""
    first = parse_release(name)
    if first < SERVICE_START:
        raise NotDue(f"the service's first month is {SERVICE_START:%Y-%m}")
    if name > last_complete(now):
        raise NotDue(f"{name} is not over yet: a release is computed once its month has ended")
    return month_end(first)


def disclosure_of(ptable: Ptable) -> dict[str, Any]:
    """What a release says of its disclosure control, in every table and the workbook's notes."""
    return {
        "method": "cell_key",
        "ptable": ptable.describe(),
        "withheld": f"a count whose perturbed value is under {ptable.threshold} is withheld (null in JSON, c in CSV)",
        "totals": "margins and totals are perturbed with their own cell keys, independently of their cells: "
        "cells need not add up to them",
        "quantiles": "rounded to whole days (referral delay, days to first contact) or whole hours (allocation, "
        "first contact), and published only beside a published count of at least 10",
        "empty_cells": "listed and withheld like cells of 1-9",
    }


def _cells(table_id: str, body: dict[str, Any], *, over_by: date) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The published rows (cells and margins) of periods already over by `over_by`, by a key naming each.
    A period still running then (this quarter, this year) was bound to change, and so was the total over
    every period: neither is a revision."""
    table = TABLES.get(table_id)
    if table is None:
        return {}
    keys = [*table.group_by, *(["month"] if table.measure == "caseload" else [])]
    period = "month" if table.measure == "caseload" else keys[0]
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for kind, rows, named in (("cell", body.get("rows", []), keys), ("margin", body.get("margins", []), keys[:1])):
        for row in rows:
            end = period_end(period, row.get(period))
            if end is not None and end <= over_by:
                out[(kind, *((k, row.get(k)) for k in named))] = row
    return out


def revisions(
    previous: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]], *, previous_as_at: date
) -> list[dict[str, Any]]:
    """The published values of periods already over at the previous release (`previous_as_at`) that this
    release publishes differently: one note per value."""
    notes: list[dict[str, Any]] = []
    for table_id, body in current.items():
        if table_id not in previous or table_id not in TABLES:
            continue
        fields = [*counts_of(TABLES[table_id]), *(QUANTILE_FIELDS if TABLES[table_id].measure == "timeliness" else ())]
        before = _cells(table_id, previous[table_id], over_by=previous_as_at)
        for key, row in _cells(table_id, body, over_by=previous_as_at).items():
            old = before.get(key)
            if old is None:
                continue  # a period the earlier release did not have: new, not revised
            for f in fields:
                if old.get(f) != row.get(f):
                    cell = {k: v for k, v in key[1:]}
                    notes.append({"table": table_id, "row": key[0], "cell": cell, "field": f,
                                  "previous": old.get(f), "current": row.get(f)})  # fmt: skip
    return notes


async def publish(
    sessionmaker: async_sessionmaker[AsyncSession], name: str, *, ptable: Ptable, long_term_missing_days: int,
    now: datetime | None = None,
) -> bool:  # fmt: skip
    """Compute and store release `name` unless it is stored already (True if this call stored it). One
    replica at a time (an advisory lock); raises NotDue for a month not over or before the service."""
    now = now or clock.utcnow()
    as_at = check_due(name, now)
    async with sessionmaker() as session, session.begin():
        await store.lock(session)
        if await store.exists(session, name):
            return False
        tables = await compute_release(session, as_of=as_at, ptable=ptable,
                                       long_term_missing_days=long_term_missing_days)  # fmt: skip
        previous = await store.previous_release(session, name)
        notes = []
        if previous:
            earlier = await store.tables_of(session, previous)
            notes = revisions(earlier, tables, previous_as_at=month_end(parse_release(previous)))
        await store.save(session, release=name, as_at=as_at, published_at=now, disclosure=disclosure_of(ptable),
                         previous=previous, revisions=notes, tables=tables)  # fmt: skip
    log.info("release published", extra={"release": name, "revisions": len(notes)})
    return True
