"""Possible duplicates: found in SQL without a cap, on every name the child is known by."""

from __future__ import annotations

import asyncio
import difflib
import random
import string
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from ictg_common.db import plain_url
from ictg_common.devinfra import Infra, ensure_database
from ictg_common.migrate import upgrade
from ictg_common.runtime import runtime_of
from ictg_intake.app import MIGRATIONS
from ictg_intake.referrals.repository import swapped_day_and_month
from ictg_intake.referrals.service import name_key, similar_names
from tests.support.factories import referral_body
from tests.support.platform import auth

WRITE = auth("referrals:write")
IMPORT = auth("referrals:import", "referrals:read")  # the service's staff: an import sees every duplicate


def child(
    given: str, family: str | None = None, *, other_names: list[str] | None = None, **more: Any
) -> dict[str, Any]:
    return referral_body(
        child__given_name=given, child__family_name=family, child__other_names=other_names or [],
        **{f"child__{k}": v for k, v in more.items()},
    )  # fmt: skip


async def post(client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] = WRITE) -> dict[str, Any]:
    r = await client.post("/v1/referrals", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_a_duplicate_is_found_beyond_the_200th_referral_of_the_same_nationality_and_age(
    intake: httpx.AsyncClient,
) -> None:
    # 500 other Vietnamese children born the same day, all called Nguyen: each shares the trigrams
    # of "Nguyen" with the child (the index lets them through) but is not the child by name.
    rng = random.Random(13)
    made = sorted({"".join(rng.choices(string.ascii_lowercase, k=6)).capitalize() for _ in range(800)})
    others = [o for o in made if not similar_names(name_key(o, "Nguyen"), name_key("Ann", "Nguyen"))][:500]
    assert len(others) == 500
    for start in range(0, len(others), 25):
        await asyncio.gather(*(post(intake, child(o, "Nguyen"), IMPORT) for o in others[start : start + 25]))
    first = await post(intake, child("An", "Nguyen"))
    again = await post(intake, child("Ann", "Nguyen"))  # the same child, a typo in the name
    assert again["possible_duplicate_of"] == [first["id"]]


# (stored referral, the same child referred again) of the duplicates matching missed before it was widened
MISSED = {
    "born a day later": (("Ion", "Popescu", "RO", "2010-03-04"), ("Ion", "Popescu", "RO", "2010-03-05")),
    "day and month swapped": (("Mihai", "Rusu", "RO", "2011-05-07"), ("Mihai", "Rusu", "RO", "2011-07-05")),
    "another nationality": (("Elena", "Ceban", "RO", "2009-08-21"), ("Elena", "Ceban", "UA", "2009-08-21")),
    "Romanian, then Moldovan": (("Andrei", "Rotaru", "RO", "2010-11-02"), ("Andrei", "Rotaru", "MD", "2010-11-02")),
}
# (stored, referred again) that are not the same child by the rule, however close
NEAR_MISSES = {
    "born two days later": (("Vasile", "Lungu", "RO", "2012-01-20"), ("Vasile", "Lungu", "RO", "2012-01-22")),
    "swapped and a day off": (("Ana", "Moraru", "RO", "2012-02-05"), ("Ana", "Moraru", "RO", "2012-05-06")),
    "another nationality, a day off": (("Dan", "Botnaru", "RO", "2010-10-10"), ("Dan", "Botnaru", "MD", "2010-10-11")),
    "another nationality, another name": (
        ("Ilie", "Cojocaru", "RO", "2013-06-15"),
        ("Ion", "Popa", "MD", "2013-06-15"),
    ),
    "a year apart": (("Radu", "Sirbu", "RO", "2011-11-30"), ("Radu", "Sirbu", "RO", "2010-11-30")),
}


def person(given: str, family: str, nationality: str, born: str) -> dict[str, Any]:
    return child(given, family, nationality=nationality, date_of_birth=born)


async def test_a_date_a_day_off_or_swapped_and_another_nationality_are_found_behind_500_children(
    intake: httpx.AsyncClient,
) -> None:
    """The four misses of issue 26, each behind a crowd of Romanian children born on the days its rule
    reads and bearing its family name (the index lets every one of them through; none is the child by
    name): found. The near misses beside them, each one step past a rule: not found."""
    pairs = {**MISSED, **NEAR_MISSES}
    names = [name_key(given, family) for stored, again in pairs.values() for given, family, *_ in (stored, again)]
    rng = random.Random(26)
    made = sorted({"".join(rng.choices(string.ascii_lowercase, k=6)).capitalize() for _ in range(900)})
    crowd = []
    for i, (stored, again) in enumerate(MISSED.values()):
        family = stored[1]
        unlike = [o for o in made if not any(similar_names(name_key(o, family), n) for n in names)]
        crowd += [
            person(o, family, "RO", (stored, again)[j % 2][3]) for j, o in enumerate(unlike[i * 125 : (i + 1) * 125])
        ]
    assert len(crowd) == 500
    for start in range(0, len(crowd), 25):
        await asyncio.gather(*(post(intake, body, IMPORT) for body in crowd[start : start + 25]))
    found = {}
    for what, (stored, again) in pairs.items():
        first = await post(intake, person(*stored))
        second = await post(intake, person(*again))
        found[what] = second["possible_duplicate_of"] == [first["id"]]
    assert found == {**dict.fromkeys(MISSED, True), **dict.fromkeys(NEAR_MISSES, False)}


def test_day_and_month_swap_only_when_that_is_another_date() -> None:
    assert swapped_day_and_month(date(2010, 3, 4)) == date(2010, 4, 3)
    assert swapped_day_and_month(date(2010, 12, 1)) == date(2010, 1, 12)
    assert swapped_day_and_month(date(2010, 3, 13)) is None  # no 13th month
    assert swapped_day_and_month(date(2010, 5, 5)) is None  # the same date


async def test_a_new_referrals_name_matches_an_earlier_referrals_other_name(intake: httpx.AsyncClient) -> None:
    earlier = await post(intake, child("Minh", "Tran", other_names=["An Nguyen"]))
    unrelated = await post(intake, child("Minh", "Tran", other_names=["Duc Pham"]))
    new = await post(intake, child("Nguyen", "Ann"))
    assert new["possible_duplicate_of"] == [earlier["id"]]
    assert unrelated["possible_duplicate_of"] == [earlier["id"]]  # same given and family name


async def test_a_new_referrals_other_name_matches_an_earlier_referrals_name(intake: httpx.AsyncClient) -> None:
    earlier = await post(intake, child("An", "Nguyen"))
    new = await post(intake, child("Minh", "Tran", other_names=["Duc Pham", "Nguyen An"]))
    alias_to_alias = await post(intake, child("Quang", "Le", other_names=["Minh Tram"]))
    not_him = await post(
        intake, child("Quang", "Le", other_names=["Duc Pham"], nationality="AL", date_of_birth="2010-03-06")
    )
    assert new["possible_duplicate_of"] == [earlier["id"]]
    # "Minh Tram" is like the other referral's own name "Minh Tran", and like nothing else.
    assert alias_to_alias["possible_duplicate_of"] == [new["id"]]
    assert not_him["possible_duplicate_of"] == []  # another nationality, and born two days later


@pytest.mark.parametrize(("stored", "typed"), [("Omar", "Omr"), ("Fatima", "Fatmia"), ("Ahmed", "Ahemd")])
async def test_a_one_word_name_with_a_typo_is_still_found(intake: httpx.AsyncClient, stored: str, typed: str) -> None:
    """Trigram similarity of one short word with a transposition or a dropped letter is under pg_trgm's
    default 0.3, yet the difflib rule matches it: the SQL filter must let it through."""
    earlier = await post(intake, child(stored))
    alias = await post(intake, child("Minh", "Tran", other_names=[typed]))
    assert alias["possible_duplicate_of"] == [earlier["id"]]


async def test_the_other_rules_still_hold_for_other_names(intake: httpx.AsyncClient) -> None:
    earlier = await post(intake, child("Minh", "Tran", other_names=["An Nguyen"]))
    older = await post(intake, child("An", "Nguyen", date_of_birth="2012-03-04"))
    elsewhere = await post(intake, child("An", "Nguyen", nationality="AL", date_of_birth="2010-03-05"))
    dual = await post(intake, child("An", "Nguyen", nationality="AL"))  # the same day: any nationality
    same = await post(intake, child("An", "Nguyen"))
    assert older["possible_duplicate_of"] == elsewhere["possible_duplicate_of"] == []
    # Born a day from `elsewhere` and of its nationality; born the same day as `earlier`.
    assert dual["possible_duplicate_of"] == [earlier["id"], elsewhere["id"]]
    assert same["possible_duplicate_of"] == [earlier["id"], dual["id"]]


def years_before(day: date, years: int) -> date:
    return day.replace(year=day.year - years) if (day.month, day.day) != (2, 29) else date(day.year - years, 3, 1)


async def test_an_estimated_age_matches_dates_of_birth_of_an_age_within_a_year_of_it_to_the_day(
    intake: httpx.AsyncClient,
) -> None:
    """The query narrows stored dates of birth by a range before the age rule: the range must hold its edges."""
    received_on = date.today() - timedelta(days=1)
    born = {  # the age each gives on `received_on`
        17: years_before(received_on, 17),
        16: years_before(received_on, 17) + timedelta(days=1),
        14: years_before(received_on, 14),
        13: years_before(received_on, 14) + timedelta(days=1),
    }
    ids = {age: (await post(intake, child("An", "Nguyen", date_of_birth=str(day))))["id"] for age, day in born.items()}
    estimate = child("An", "Nguyen", date_of_birth=None, estimated_age=15)  # identified on `received_on`
    new = await post(intake, {**estimate, "received_at": f"{received_on}T12:00:00Z"}, IMPORT)
    assert sorted(new["possible_duplicate_of"]) == sorted([ids[16], ids[14]])


@given(st.text(alphabet="abn ", max_size=14), st.text(alphabet="abn ", max_size=14))
def test_names_of_lengths_the_query_leaves_out_are_never_similar(a: str, b: str) -> None:
    """`candidates` keeps only stored names with 3 min(la, lb) >= 2 max(la, lb): a necessary condition."""
    if similar_names(a, b):
        assert 3 * min(len(a), len(b)) >= 2 * max(len(a), len(b))


@given(st.text(alphabet="adeghilmnortuy ", max_size=16), st.text(alphabet="adeghilmnortuy ", max_size=16))
def test_names_are_similar_exactly_as_before(a: str, b: str) -> None:
    assert similar_names(a, b) == (a == b or difflib.SequenceMatcher(None, a, b).ratio() >= 0.8)


@pytest.fixture
async def database_at_0003(infra: Infra) -> AsyncIterator[str]:
    """A database of its own, migrated to the revision before referral names."""
    base = plain_url(infra.database_url).rsplit("/", 1)[0]
    name = f"ictg_t_{uuid.uuid4().hex[:10]}"
    url = f"{base}/{name}"
    await asyncio.to_thread(ensure_database, url)
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "0003")
    yield url
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_the_migration_gives_referrals_stored_before_it_their_names(database_at_0003: str) -> None:
    conn = await asyncpg.connect(database_at_0003)
    try:
        await conn.execute(
            "INSERT INTO intake.referral (id, received_at, identified_on, org_type, org_name, submitted_by, "
            "local_authority_code, region, pathway, date_of_birth, estimated_age, nationality, name_key, body, "
            "derived, possible_duplicate_of) VALUES ($1, now(), current_date, 'police', 'GMP', 'x', 'E08000003', "
            "'north_west', 'local_authority', '2010-03-04', NULL, 'VN', 'an nguyen', $2::jsonb, '{}', '{}')",
            uuid.UUID(int=1),
            '{"child": {"given_name": "An", "family_name": "Nguyễn", "other_names": ["Trần Minh", "—"]}}',
        )
        await asyncio.to_thread(upgrade, MIGRATIONS, database_at_0003)
        rows = await conn.fetch("SELECT name_key FROM intake.referral_name ORDER BY name_key")
    finally:
        await conn.close()
    assert [r["name_key"] for r in rows] == ["an nguyen", "minh tran"]


async def test_intake_sets_the_threshold_once_per_connection_not_in_each_referral(
    shared_settings: dict[str, Any],
) -> None:
    """Each connection of intake's pool gets the trigram threshold when it is made: no referral's
    transaction sends a `SET LOCAL`, and the low threshold holds all the same ("Omr" for "Omar" is
    under pg_trgm's default 0.3)."""
    from sqlalchemy import event

    from ictg_intake.app import create_app
    from ictg_intake.settings import IntakeSettings
    from tests.support.platform import serve

    app = create_app(IntakeSettings(**shared_settings))
    async with serve(app) as client:
        sent: list[str] = []
        event.listen(
            runtime_of(app).engine.sync_engine, "before_cursor_execute", lambda _c, _u, sql, *_: sent.append(sql)
        )
        bodies = [child(f"Someone{i}", "Else") for i in range(12)] + [child("Omar")]
        await asyncio.gather(*(post(client, b) for b in bodies))  # several connections of the pool at once
        alias = await post(client, child("Minh", "Tran", other_names=["Omr"]))
        async with runtime_of(app).engine.connect() as conn:
            shown = await conn.scalar(text("SHOW pg_trgm.similarity_threshold"))
    set_per_referral = [r for r in sent if "SET LOCAL pg_trgm" in r]
    assert set_per_referral == []
    assert len(alias["possible_duplicate_of"]) == 1
    assert shown == "0.1"
