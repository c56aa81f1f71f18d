"""All SQL of referrals."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import (
    CompoundSelect,
    Date,
    Insert,
    Integer,
    Select,
    String,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    true,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.audit import record_statement
from ictg_common.db import CONNECTION_SETTINGS, connection_settings
from ictg_common.outbox import emit_statement

from ..models import SCHEMA, Referral, ReferralName

SIMILARITY_THRESHOLD = 0.1  # pg_trgm similarity that makes a stored name a candidate (difflib confirms)


@functools.cache
def _add_statement() -> Insert:
    """Built once (executed with each referral's values): building it for every request cost more CPU
    than Postgres spent running it (py-spy)."""
    names = (
        insert(ReferralName)
        .from_select(
            ["referral_id", "nationality", "date_of_birth", "estimated_age", "name_key"],
            select(
                bindparam("names_referral_id", type_=PgUUID(as_uuid=True)),
                bindparam("names_nationality", type_=String),
                bindparam("names_date_of_birth", type_=Date),
                bindparam("names_estimated_age", type_=Integer),
                func.unnest(bindparam("names", type_=ARRAY(String))),
            ),
        )
        .cte("stored_names")
    )
    return (
        insert(Referral.__table__)
        .add_cte(names)
        .add_cte(emit_statement(SCHEMA).cte("emitted"))
        .add_cte(record_statement(SCHEMA).cte("audited"))
    )


async def add(
    session: AsyncSession, referral: Referral, *, names: list[str], event: dict[str, Any], audited: dict[str, Any]
) -> None:
    """Insert `referral`, its `names` (name keys), its event (`outbox.emit_params`) and its audit row
    (`audit.record_params`) in one statement: one round trip where there were three. Core, not
    `session.add`: nothing reads the row back in this transaction, so there is no unit of work to keep.
    Each name carries the referral's nationality, date of birth and estimated age (what `candidates`
    narrows by)."""
    values = {c.key: getattr(referral, c.key) for c in Referral.__table__.columns}
    await session.execute(
        _add_statement(),
        {
            **values, "names_referral_id": referral.id, "names_nationality": referral.nationality,
            "names_date_of_birth": referral.date_of_birth, "names_estimated_age": referral.estimated_age,
            "names": sorted(set(names)), **event, **audited,
        },
    )  # fmt: skip


async def get(session: AsyncSession, referral_id: UUID) -> Referral | None:
    return await session.get(Referral, referral_id)


async def of_organisation(session: AsyncSession, ids: list[UUID], *, org: tuple[str, str]) -> list[UUID]:
    """Those of `ids` that `org` referred."""
    q = select(Referral.id).where(Referral.id.in_(ids), Referral.org_type == org[0], Referral.org_name == org[1])
    return list((await session.scalars(q)).all())


class Candidate(NamedTuple):
    id: UUID
    name_key: str
    org: tuple[str, str]  # who filed it (whether a first responder may see the link)


@functools.cache
def _candidates_statement(*, by_date_of_birth: bool) -> CompoundSelect:
    """`candidates`' query, built once for each way the new child's age is known (parameters below).

    One branch per way of being the same child: each reads, in one scan of a GiST index of `referral_name`,
    the names that are similar and of children born on the days it allows (or of an estimated age), of one
    nationality where it asks for one, then keeps the rule itself, on the referral, as a filter; what narrows
    need only let every match through. (Before the index: the whole crowd of the nationality was read first,
    33,000 referrals of 100,000, 35-75 ms.)"""
    r, rn = Referral, ReferralName
    nationality = bindparam("nationality", type_=String)
    named = or_(
        # And of a length the difflib rule allows, which it proves: ratio = 2 M / (la + lb) with M <= min(la, lb),
        # so ratio >= 0.8 needs 3 min(la, lb) >= 2 max(la, lb). Half the similar names of a crowd fail it.
        rn.name_key.op("%")(any_(bindparam("keys", type_=ARRAY(String))))
        & func.length(rn.name_key).between(bindparam("shortest", type_=Integer), bindparam("longest", type_=Integer)),
        # A name with no letter or digit has no trigrams: it is equal to another such name only (NULL: none).
        rn.name_key == bindparam("empty", type_=String),
    )
    same_nationality = (rn.nationality == nationality, r.nationality == nationality)
    if by_date_of_birth:
        born = bindparam("date_of_birth", type_=Date)
        near = (bindparam("born_from", type_=Date), bindparam("born_to", type_=Date))
        swapped = bindparam("born_swapped", type_=Date)  # NULL when the day and month cannot be swapped
        age_then = func.extract("year", func.age(func.date(r.received_at), born))
        ages = [
            # The same nationality, born that day or one day either side: a slip of the keyboard or a birth
            # recorded in another time zone.
            (*same_nationality, rn.date_of_birth.between(*near), r.date_of_birth.between(*near)),
            # The same nationality, day and month swapped (04/03 read as 3 April): a date taken down in the
            # other order.
            (*same_nationality, rn.date_of_birth == swapped, r.date_of_birth == swapped),
            # Any nationality, born that very day: a dual national, or a nationality assumed from a document
            # or a language (Romanian against Moldovan).
            (true(), true(), rn.date_of_birth == born, r.date_of_birth == born),
            # An estimate from any time: its age then depends on when it was received, so no bound on the age.
            (*same_nationality, rn.estimated_age.is_not(None), func.abs(r.estimated_age - age_then) <= 1),
        ]
    else:
        age = bindparam("estimated_age", type_=Integer)
        age_now = func.extract("year", func.age(bindparam("received_on", type_=Date), r.date_of_birth))
        ages = [
            (*same_nationality, rn.estimated_age == age, r.estimated_age == age),
            (
                *same_nationality,
                rn.date_of_birth.between(bindparam("born_after", type_=Date), bindparam("born_by", type_=Date)),
                func.abs(age_now - age) <= 1,
            ),
        ]
    # UNION, not UNION ALL: a referral with both a date of birth and an age could pass two branches, and one
    # born that day of the same nationality passes two.
    return union(
        *(
            select(r.received_at, r.id, r.org_type, r.org_name, rn.name_key)
            .join(r, r.id == rn.referral_id)
            .where(nationality_narrow, narrow, named, nationality_rule, rule)
            for nationality_narrow, nationality_rule, narrow, rule in ages
        )
    ).order_by("received_at", "id")


def swapped_day_and_month(day: date) -> date | None:
    """`day` with its day and month swapped (2010-03-04 → 2010-04-03), or None when that is no other date
    (a day after the 12th, or the day equal to the month). Pure."""
    if day.day > 12 or day.day == day.month:
        return None
    return day.replace(month=day.day, day=day.month)


# Lower than pg_trgm's 0.3: a one-word name with a transposition or a dropped letter ("omar" and
# "omr", "fatima" and "fatmia") is under 0.3 yet a match by the difflib rule that confirms. Measured,
# not proven: no trigram threshold above 0 is a bound of difflib's 0.8 (a long name with a letter
# inserted after every second one keeps a ratio of 0.8 with the name without them, and almost no trigram).
_TRGM = "pg_trgm.similarity_threshold"
_THRESHOLD = text(f"SET LOCAL {_TRGM} = {SIMILARITY_THRESHOLD}")


tune_connections = connection_settings(pg_trgm__similarity_threshold=SIMILARITY_THRESHOLD)
"""Each new connection of the engine gets the threshold once, for its lifetime: `candidates` then needs no
`SET LOCAL`, a round trip fewer per referral. A connection made another way still gets the `SET LOCAL`."""


async def candidates(
    session: AsyncSession,
    *,
    names: list[str],
    nationality: str,
    date_of_birth: date | None,
    estimated_age: int | None,
    received_on: date,
) -> list[Candidate]:
    """Names of earlier referrals of possibly the same child, in one query and without a cap: the
    same nationality and the same date of birth, one a day off, or one with day and month swapped; or
    any nationality and the same date of birth; or the same nationality and the same age (a date of
    birth also matches an estimate within a year of the age it gives, and the other way round); and,
    in every case, a stored name trigram-similar to one of `names` (pg_trgm `%` at `SIMILARITY_THRESHOLD`) and of a length that `similar_names` could accept. A
    loose filter: the caller confirms each name. Oldest referral first, a referral once per stored name
    that passed."""
    keys = [k for k in dict.fromkeys(names) if k]
    params: dict[str, Any] = {
        "nationality": nationality, "keys": keys, "empty": "" if "" in names else None,
        "shortest": min((-(-2 * len(k) // 3) for k in keys), default=0),
        "longest": max((3 * len(k) // 2 for k in keys), default=0),
    }  # fmt: skip
    if date_of_birth is not None:
        params |= {
            "date_of_birth": date_of_birth, "born_swapped": swapped_day_and_month(date_of_birth),
            "born_from": date_of_birth - timedelta(days=1), "born_to": date_of_birth + timedelta(days=1),
        }  # fmt: skip
    elif estimated_age is not None:
        # |age - E| <= 1 bounds the date of birth. Age <= E + 1: born after the day E + 2 years before
        # `received_on`, and n years never last more than 366 n days. Age >= E - 1 >= 1: born at least E - 1
        # years before it, and n years last at least 365 n days (an age under 1 may be of a later birth).
        params |= {
            "estimated_age": estimated_age, "received_on": received_on,
            "born_after": received_on - timedelta(days=366 * (estimated_age + 2) - 1),
            "born_by": received_on - timedelta(days=365 * (estimated_age - 1)) if estimated_age >= 2 else date.max,
        }  # fmt: skip
    else:
        raise ValueError("a child has a date of birth or an estimated age")
    if (await session.connection()).info.get(CONNECTION_SETTINGS, {}).get(_TRGM) != SIMILARITY_THRESHOLD:
        await session.execute(_THRESHOLD)
    statement = _candidates_statement(by_date_of_birth=date_of_birth is not None)
    rows = (await session.execute(statement, params)).all()
    return [Candidate(id_, key, (org_type, org_name)) for _, id_, org_type, org_name, key in rows]


@dataclass(frozen=True)
class Filters:
    """What a referrer (or the service) looks for in `GET /v1/referrals`."""

    received_since: datetime | None = None
    reference: str | None = None  # the referrer's own, exactly (letter case aside)
    statuses: tuple[str, ...] = ()  # any of them (`service.status_of`)
    ids: tuple[UUID, ...] = ()  # any of them (the case API's claim check fetches a batch at once)


def _not_withdrawn() -> Any:
    return Referral.withdrawn_at.is_(None)


STATUS_WHERE = {  # as `casestatus.status_of` decides (a withdrawal first)
    "received": lambda: (
        Referral.case_id.is_(None) & Referral.exited_at.is_(None) & Referral.allocated.is_(False) & _not_withdrawn()
    ),
    "awaiting_allocation": lambda: (
        Referral.case_id.is_not(None) & Referral.allocated.is_(False) & Referral.exited_at.is_(None) & _not_withdrawn()
    ),
    "allocated": lambda: Referral.allocated.is_(True) & Referral.exited_at.is_(None) & _not_withdrawn(),
    "exited": lambda: Referral.exited_at.is_not(None) & _not_withdrawn(),
    "withdrawn": lambda: Referral.withdrawn_at.is_not(None),
}


def page_query(
    *, after: tuple[datetime, UUID] | None, org: tuple[str, str] | None, limit: int, filters: Filters | None = None
) -> Select[Any]:
    q = select(Referral).order_by(Referral.received_at, Referral.id).limit(limit)
    if org is not None:
        q = q.where(Referral.org_type == org[0], Referral.org_name == org[1])
    if filters is not None:
        if filters.received_since is not None:
            q = q.where(Referral.received_at >= filters.received_since)
        if filters.reference is not None:
            q = q.where(func.lower(Referral.referrer_reference) == filters.reference.lower())
        if filters.statuses:
            q = q.where(or_(*(STATUS_WHERE[s]() for s in filters.statuses)))
        if filters.ids:
            q = q.where(Referral.id.in_(filters.ids))
    if after is not None:
        q = q.where(or_(Referral.received_at > after[0], (Referral.received_at == after[0]) & (Referral.id > after[1])))
    return q


async def page(session: AsyncSession, **kwargs: Any) -> list[Referral]:
    return list((await session.scalars(page_query(**kwargs))).all())


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Referral)) or 0)
