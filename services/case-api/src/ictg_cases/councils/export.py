"""The SSDA903 `Missing` table of a council's children (the Department for Education's SSDA903 return).

Columns `CHILD,DOB,MISSING,MIS_START,MIS_END`: `CHILD` is the council's own `la_child_id`, dates are
`dd/mm/yyyy` in Europe/London, `MISSING` is `M` when the child's whereabouts were unknown and `A`
(absent) when known. Episodes that overlap both the asked dates and one of the council's periods for
that authority; an episode is reported once. `MIS_END` is blank while the episode is open, and when
the return fell after `to` or after the council's responsibility ended (it is not the council's to
report). Episodes of children the council has not identified (no `la_child_id` filed) or whose date
of birth is not known are left out and listed, by case, at `…/missing/unidentified`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.clock import LONDON, london_date

from ..cases import periods
from ..models import Case, LocalIdentifier, MissingEpisode, ResponsibilityPeriod
from . import repository

COLUMNS = ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"]
NO_CHILD_ID, NO_DATE_OF_BIRTH = "no_la_child_id", "no_date_of_birth"


def collection_year_start(today: date) -> date:
    """1 April of the SSDA903 collection year `today` falls in (years run 1 April to 31 March)."""
    return date(today.year if today.month >= 4 else today.year - 1, 4, 1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON)


def _dmy(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _date_of_birth(case: Case) -> date | None:
    child = case.personal.get("child") if isinstance(case.personal, dict) else None
    raw = child.get("date_of_birth") if isinstance(child, dict) else None
    return date.fromisoformat(raw) if isinstance(raw, str) else None


@dataclass
class Unidentified:
    case_id: UUID
    referral_id: UUID
    reason: str
    episodes: int = 0


class UnidentifiedCase(BaseModel):
    case_id: UUID = Field(description="The child's case (GET /v1/cases/{case_id}).")
    referral_id: UUID = Field(description="Intake's id of the referral the case was opened for.")
    reason: str = Field(description=f"`{NO_CHILD_ID}`: file it at PUT /v1/cases/{{id}}/local-identifiers; "
                        f"`{NO_DATE_OF_BIRTH}`: the referral gave only an estimated age")  # fmt: skip
    episodes: int = Field(description="Missing episodes of the child left out of the export")


class UnidentifiedPage(BaseModel):
    items: list[UnidentifiedCase] = Field(description="One entry per case whose episodes the export left out.")
    next_cursor: str | None = Field(default=None, description="Always null: the whole list is one page.")


@dataclass
class Export:
    rows: list[list[str]]
    case_ids: list[UUID]
    unidentified: list[Unidentified]

    @property
    def left_out(self) -> int:
        return sum(u.episodes for u in self.unidentified)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(self.rows)
        return out.getvalue()


def _end(episode: MissingEpisode, own: list[ResponsibilityPeriod], until: datetime) -> str:
    """`MIS_END`: blank while open, and when the return fell after `until` or outside the council's
    periods (another authority's to report)."""
    ended = episode.ended_at
    if ended is None or ended >= until or not periods.covers(own, ended, or_ends=True):
        return ""
    return _dmy(london_date(ended))


async def missing(session: AsyncSession, *, code: str, start: date, end: date) -> Export:
    """The Missing table of `code`'s children for the dates `start`–`end` (inclusive)."""
    since, until = _midnight(start), _midnight(end + timedelta(days=1))
    found, own = await repository.missing_in(session, code=code, start=since, end=until)
    rows: list[list[str]] = []
    cases: dict[UUID, None] = {}
    unidentified: dict[UUID, Unidentified] = {}
    for episode, case, ids in found:
        dob = _date_of_birth(case)
        reason = NO_CHILD_ID if ids is None else NO_DATE_OF_BIRTH if dob is None else None
        if reason is not None:
            unidentified.setdefault(case.id, Unidentified(case.id, case.referral_id, reason)).episodes += 1
            continue
        assert ids is not None and dob is not None
        cases[case.id] = None
        rows.append([
            ids.la_child_id, _dmy(dob), "A" if episode.whereabouts_known else "M",
            _dmy(london_date(episode.started_at)), _end(episode, own.get(case.id, []), until),
        ])  # fmt: skip
    return Export(rows=rows, case_ids=list(cases), unidentified=list(unidentified.values()))


def unidentified_page(export: Export) -> UnidentifiedPage:
    items: Sequence[Any] = [UnidentifiedCase.model_validate(u, from_attributes=True) for u in export.unidentified]
    return UnidentifiedPage(items=list(items))


__all__ = ["COLUMNS", "Export", "LocalIdentifier", "collection_year_start", "missing", "unidentified_page"]
