"""Ofsted's Annex A List 8 (children in care), its missing columns, for a council's looked-after children.

Annex A is the list of children a council prepares for an Ofsted inspection of its children's services
(ILACS); List 8 is its children in care. This export fills List 8's missing columns, under Ofsted's own
headings, one row per child, for the council to merge into its List 8 by `Child Unique ID` (its own
`la_child_id`):

- `Number of Episodes the Child has been 'Missing' from their Placement in the last 12 months`:
  episodes whose whereabouts were unknown (SSDA903 `M`);
- `Number of Episodes the Child has been 'Absent' from their Placement in the last 12 months`:
  episodes whose whereabouts were known (SSDA903 `A`);
- `Was the child offered a Return Interview after their last missing episode (Y/N)?`: of the last of those
  missing episodes, from its return home interview record (`outcome` `accepted` or `declined`: `Y`;
  `not_offered`: `N`), or, when none is recorded, from the return's own `return_interview_offered`;
- `Did the child accept a Return Interview after their last missing episode (Y/N)?`: from the same record
  (`accepted`: `Y`; `declined` or `not_offered`: `N`); blank when no interview is recorded.

Both are blank when the child had no missing episode, is still missing, or returned after `as_at` or
outside the council's periods (not its to report); an interview recorded as offered after `as_at`, or
outside the council's periods, is not counted (the return's flag answers instead).

The 12 months are the 365 or 366 days up to and including `as_at` (Europe/London dates). The children are
those the council looks after (`looked_after` filed with its identifiers for that authority) and for whom one
of its responsibility periods meets the 12 months; an episode counts when it meets both the 12 months and one
of those periods, exactly as in the SSDA903 Missing export, so a child who moved between councils is counted by
each for the episodes of its own time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.clock import LONDON

from ..cases import periods as rule
from ..models import Case, LocalIdentifier, MissingEpisode, ResponsibilityPeriod, ReturnInterview
from ..rules import add_years
from . import repository

CHILD = "Child Unique ID"
MISSING = "Number of Episodes the Child has been 'Missing' from their Placement in the last 12 months"
ABSENT = "Number of Episodes the Child has been 'Absent' from their Placement in the last 12 months"
OFFERED = "Was the child offered a Return Interview after their last missing episode (Y/N)?"
ACCEPTED = "Did the child accept a Return Interview after their last missing episode (Y/N)?"
COLUMNS = [CHILD, MISSING, ABSENT, OFFERED, ACCEPTED]


class List8Row(BaseModel):
    child_unique_id: str = Field(description=f"`{CHILD}`: your own child id (`la_child_id`).")
    case_id: UUID = Field(description="The child's case (GET /v1/cases/{case_id}); not in the CSV.")
    missing_episodes: int = Field(description=f"`{MISSING}`: episodes with whereabouts unknown.")
    absent_episodes: int = Field(description=f"`{ABSENT}`: episodes with whereabouts known.")
    return_interview_offered: bool | None = Field(
        description=f"`{OFFERED}`: from the return home interview recorded after the last missing episode, else the "
        "return's `return_interview_offered`; null when there was no missing episode, the child is still missing, or "
        "the return is not yours to report."
    )
    return_interview_accepted: bool | None = Field(
        description=f"`{ACCEPTED}`: from the return home interview recorded after the last missing episode (false "
        "when declined or not offered); null when none is recorded."
    )


class List8(BaseModel):
    """Annex A List 8's missing columns for your looked-after children."""

    local_authority_code: str = Field(description="The authority of yours the list is for.")
    as_at: date = Field(description="The last day of the 12 months (ISO date).")
    period_start: date = Field(description="The first day of the 12 months (ISO date).")
    columns: list[str] = Field(description="The CSV's column headings: Ofsted's own, in order.")
    items: list[List8Row] = Field(description="One row per looked-after child, in `Child Unique ID` order.")


@dataclass
class _Child:
    case: Case
    ids: LocalIdentifier
    episodes: list[MissingEpisode]


def window(as_at: date) -> tuple[date, date]:
    """The 12 months up to and including `as_at`: from the day after the same date a year before."""
    return add_years(as_at, -1) + timedelta(days=1), as_at


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON)


def row(
    case: Case, ids: LocalIdentifier, episodes: Sequence[MissingEpisode], own: Sequence[ResponsibilityPeriod],
    interviews: Mapping[UUID, ReturnInterview], *, until: datetime,
) -> List8Row:  # fmt: skip
    """One child's row from the episodes that count (those meeting the 12 months and the council's periods) and
    the return home interviews recorded after them."""
    missing = sorted((e for e in episodes if not e.whereabouts_known), key=lambda e: (e.started_at, e.id))
    offered: bool | None = None
    accepted: bool | None = None
    if missing:
        last = missing[-1]
        ended = last.ended_at
        if ended is not None and ended < until and rule.covers(own, ended, or_ends=True):
            interview = interviews.get(last.id)
            if interview is not None and interview.offered_at < until and rule.covers(own, interview.offered_at):
                offered, accepted = interview.outcome != "not_offered", interview.outcome == "accepted"
            else:
                offered = last.return_interview_offered
    return List8Row(
        child_unique_id=ids.la_child_id, case_id=case.id, missing_episodes=len(missing),
        absent_episodes=sum(1 for e in episodes if e.whereabouts_known), return_interview_offered=offered,
        return_interview_accepted=accepted,
    )  # fmt: skip


async def list_8(session: AsyncSession, *, code: str, as_at: date) -> List8:
    start, end = window(as_at)
    since, until = _midnight(start), _midnight(end + timedelta(days=1))
    children = {
        case.id: _Child(case, ids, [])
        for case, ids in await repository.looked_after_in(session, code=code, start=since, end=until)
    }
    found, _periods = await repository.missing_in(session, code=code, start=since, end=until)
    for episode, case, _ids in found:
        if case.id in children:
            children[case.id].episodes.append(episode)
    own = await rule.of_cases(session, list(children), [code]) if children else {}
    interviews = await repository.interviews_after(session, [e.id for c in children.values() for e in c.episodes])
    rows = [row(c.case, c.ids, c.episodes, own.get(c.case.id, []), interviews, until=until) for c in children.values()]
    rows.sort(key=lambda r: (r.child_unique_id.upper(), str(r.case_id)))
    return List8(local_authority_code=code, as_at=as_at, period_start=start, columns=COLUMNS, items=rows)


def _yn(value: bool | None) -> str:
    return "" if value is None else "Y" if value else "N"


def to_csv(answer: List8) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in answer.items:
        writer.writerow([
            r.child_unique_id, r.missing_episodes, r.absent_episodes, _yn(r.return_interview_offered),
            _yn(r.return_interview_accepted),
        ])  # fmt: skip
    return out.getvalue()
