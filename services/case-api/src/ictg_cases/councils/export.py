"""The SSDA903 `Missing` table of a council's children (the Department for Education's SSDA903 return).

Columns `CHILD,DOB,MISSING,MIS_START,MIS_END`: `CHILD` is the council's own `la_child_id`, dates are
`dd/mm/yyyy` in Europe/London, `MISSING` is `M` when the child's whereabouts were unknown and `A`
(absent) when known. Episodes that overlap both the asked dates and one of the council's periods for
that authority; an episode is reported once. `MIS_END` is blank while the episode is open, and when
the return fell after `to` or after the council's responsibility ended (it is not the council's to
report).

Which children: by default those the council looks after (`looked_after` filed with its identifiers),
as its SSDA903 return (and the Header it merges this table with) holds only its looked-after children;
with `all=true` every child it has identified. `DOB` is the service's date of birth, or, when the
service has only an estimated age, the one the council filed with its identifiers. Episodes of children
the council has not identified (no `la_child_id` filed), or whose date of birth neither the service nor
the council has, are left out and listed, by case, at `…/missing/unidentified`; episodes of identified
children the council does not look after are left out (without `all=true`) and counted.
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


def service_date_of_birth(case: Case) -> date | None:
    """The child's date of birth as the referral gave it; None when it gave only an estimated age."""
    child = case.personal.get("child") if isinstance(case.personal, dict) else None
    raw = child.get("date_of_birth") if isinstance(child, dict) else None
    return date.fromisoformat(raw) if isinstance(raw, str) else None


def date_of_birth(case: Case, ids: LocalIdentifier | None) -> date | None:
    """The date of birth for the council's own returns: the service's, else the one the council filed."""
    return service_date_of_birth(case) or (ids.date_of_birth if ids is not None else None)


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
                        f"`{NO_DATE_OF_BIRTH}`: the referral gave only an estimated age: file the date of birth you "
                        "record as `date_of_birth` with your identifiers")  # fmt: skip
    episodes: int = Field(description="Missing episodes of the child left out of the export")


class UnidentifiedPage(BaseModel):
    items: list[UnidentifiedCase] = Field(description="One entry per case whose episodes the export left out.")
    next_cursor: str | None = Field(default=None, description="Always null: the whole list is one page.")


@dataclass
class Export:
    rows: list[list[str]]
    case_ids: list[UUID]
    unidentified: list[Unidentified]
    not_looked_after: int = 0  # episodes of identified children the council does not look after, left out

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


async def missing(session: AsyncSession, *, code: str, start: date, end: date, everyone: bool = False) -> Export:
    """The Missing table of `code`'s children for the dates `start`–`end` (inclusive): the children it looks
    after, or (`everyone`) every child it has identified."""
    since, until = _midnight(start), _midnight(end + timedelta(days=1))
    found, own = await repository.missing_in(session, code=code, start=since, end=until)
    rows: list[list[str]] = []
    cases: dict[UUID, None] = {}
    unidentified: dict[UUID, Unidentified] = {}
    not_looked_after = 0
    for episode, case, ids in found:
        if ids is not None and not ids.looked_after and not everyone:
            not_looked_after += 1
            continue
        dob = date_of_birth(case, ids)
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
    return Export(
        rows=rows, case_ids=list(cases), unidentified=list(unidentified.values()), not_looked_after=not_looked_after
    )


def unidentified_page(export: Export) -> UnidentifiedPage:
    items: Sequence[Any] = [UnidentifiedCase.model_validate(u, from_attributes=True) for u in export.unidentified]
    return UnidentifiedPage(items=list(items))


__all__ = [
    "COLUMNS", "Export", "LocalIdentifier", "collection_year_start", "date_of_birth", "missing", "unidentified_page",
]  # fmt: skip
