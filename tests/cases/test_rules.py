"""The case's domain rules (`ictg_cases.rules`) as pure functions (no database), and the record-time rule as
every write applies it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ictg_cases import rules
from ictg_cases.domain import deadlines
from ictg_common import clock
from tests.support.cases_harness import Stack, iso, stack_fixture  # noqa: F401

CONTACT = {"outcome": "made", "method": "face_to_face", "party": "child", "topics": ["safety", "nrm"]}
EPISODE = {"reported_to_police": True, "missing_from_care_meeting": False, "professional_network_meeting": True}


def ago(**kw: float) -> str:
    return iso(clock.utcnow() - timedelta(**kw))


async def past_case(stack: Stack, days: int = 30, **kw: Any) -> dict[str, Any]:
    return await stack.case(received_at=clock.utcnow() - timedelta(days=days), **kw)


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_record_time_rules() -> None:
    now = T0 + timedelta(days=10)
    assert rules.record_time_errors(T0 + timedelta(days=1), pointer="/x", received_at=T0, now=now) == []
    assert rules.record_time_errors(T0, pointer="/x", received_at=T0, now=now) == []
    assert (
        rules.record_time_errors(now + timedelta(seconds=1), pointer="/x", received_at=T0, now=now)[0]["detail"]
        == "must not be in the future"
    )
    assert (
        rules.record_time_errors(
            now + timedelta(seconds=1), pointer="/x", received_at=T0, now=now, skew=timedelta(minutes=5)
        )
        == []
    )
    [early] = rules.record_time_errors(T0 - timedelta(seconds=1), pointer="/occurred_at", received_at=T0, now=now)
    assert early["pointer"] == "/occurred_at" and "before the referral" in early["detail"]


def test_role_fits_pathway() -> None:
    assert rules.role_fits("direct_worker", "direct_worker")
    assert not rules.role_fits("direct_worker", "regional_practice_coordinator")
    assert rules.role_fits("regional_practice_coordinator", "regional_practice_coordinator")
    assert rules.role_fits("regional_practitioner", "regional_practitioner")
    assert not rules.role_fits("regional_practitioner", "direct_worker")
    assert all(
        rules.role_fits("manager", p)
        for p in ("direct_worker", "regional_practice_coordinator", "regional_practitioner")
    )


def test_capacity() -> None:
    assert not rules.over_capacity(caseload=29, capacity=30)
    assert rules.over_capacity(caseload=30, capacity=30)
    assert rules.over_capacity(caseload=0, capacity=0)


def test_episode_conflicts() -> None:
    closed = rules.Episode(T0, T0 + timedelta(days=5))
    assert rules.episode_conflict([], T0) is None
    assert rules.episode_conflict([closed], T0 + timedelta(days=5)) is None
    assert rules.episode_conflict([closed], T0 + timedelta(days=2)) is not None
    assert rules.episode_conflict([closed], T0 - timedelta(days=1)) is not None
    assert "still open" in (rules.episode_conflict([rules.Episode(T0, None)], T0 + timedelta(days=9)) or "")


def test_turns_18_and_maximum_duration() -> None:
    assert rules.turns_18_on(date(2010, 3, 4)) == date(2028, 3, 4)
    assert rules.turns_18_on(date(2008, 2, 29)) == date(2026, 3, 1)
    assert rules.turns_18_on(None) is None
    assert rules.maximum_duration_on(T0, None) is None
    assert rules.maximum_duration_on(datetime(2025, 8, 31, 10, tzinfo=UTC), 18) == date(2027, 2, 28)
    # 23:30 UTC on 31 March in BST is already 1 April in London.
    assert rules.maximum_duration_on(datetime(2026, 3, 31, 23, 30, tzinfo=UTC), 1) == date(2026, 5, 1)


def test_long_term_missing_counts_london_calendar_days() -> None:
    since = datetime(2026, 1, 1, 23, 30, tzinfo=UTC)
    assert not rules.long_term_missing(None, now=since + timedelta(days=100), days=60)
    assert not rules.long_term_missing(since, now=since + timedelta(days=59), days=60)
    assert rules.long_term_missing(since, now=since + timedelta(days=60), days=60)


def _case(due: datetime, done: datetime | None, *, exited_at: datetime | None = None, status: str = "allocated",
          opened_at: datetime = T0) -> SimpleNamespace:  # fmt: skip
    return SimpleNamespace(
        allocation_due_by=due, first_allocated_at=done, first_contact_due_by=due + timedelta(days=9),
        first_contact_at=T0, opened_at=opened_at, exited_at=exited_at, status=status,
    )  # fmt: skip


def test_deadlines() -> None:
    due = T0 + timedelta(days=1)
    later = due + timedelta(days=1)
    assert not deadlines.missed(_case(due, None), "allocation", now=due - timedelta(seconds=1))
    assert deadlines.missed(_case(due, None), "allocation", now=due)
    assert not deadlines.missed(_case(due, due - timedelta(seconds=1)), "allocation", now=later)
    assert deadlines.missed(_case(due, due), "allocation", now=later)  # on time means strictly before
    assert not deadlines.missed(_case(due, None, exited_at=due - timedelta(hours=1)), "allocation", now=later)
    # A case opened after its deadline (an import, a backlog) is measured from its records, not breached live.
    assert not deadlines.missed(_case(due, None, opened_at=due), "allocation", now=later)
    assert deadlines.overdue(_case(due, None), now=due) == ["allocation"]
    assert deadlines.overdue(_case(due, due), now=due + timedelta(days=9)) == []
    assert deadlines.overdue(_case(due, None, status="exited"), now=later) == []


def test_if_match() -> None:
    assert rules.if_match_ok(None, 3)
    assert rules.if_match_ok('"3"', 3) and rules.if_match_ok('W/"3"', 3) and rules.if_match_ok("*", 3)
    assert rules.if_match_ok('"1", "3"', 3)
    assert not rules.if_match_ok('"2"', 3) and not rules.if_match_ok("garbage", 3) and not rules.if_match_ok("", 3)
    assert rules.etag(7) == '"7"'


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.integers(min_value=0, max_value=240))
def test_add_months_lands_in_the_right_month_never_past_its_end(day: date, months: int) -> None:
    out = rules.add_months(day, months)
    assert (out.year * 12 + out.month) - (day.year * 12 + day.month) == months
    assert out.day <= day.day and (out.day == day.day or (out + timedelta(days=1)).day == 1)


@given(st.lists(st.tuples(st.integers(0, 100), st.integers(1, 20)), max_size=6), st.integers(0, 150))
def test_no_accepted_episode_overlaps_a_recorded_one(spans: list[tuple[int, int]], start: int) -> None:
    episodes, cursor = [], 0
    for gap, length in spans:  # a valid history: back to back, never overlapping
        s = cursor + gap
        episodes.append(rules.Episode(T0 + timedelta(days=s), T0 + timedelta(days=s + length)))
        cursor = s + length
    new = T0 + timedelta(days=start)
    if rules.episode_conflict(episodes, new) is None:
        assert all(e.ended_at is not None and e.ended_at <= new for e in episodes)


async def test_record_times_never_in_the_future_nor_before_the_referral(stack: Stack) -> None:
    case = await past_case(stack, days=10)
    future = await stack.post(
        f"/v1/cases/{case['id']}/contacts", {**CONTACT, "occurred_at": iso(clock.utcnow() + timedelta(hours=2))}
    )
    assert future.status_code == 422
    assert future.json()["errors"] == [{"pointer": "/occurred_at", "detail": "must not be in the future"}]
    early = await stack.post(
        f"/v1/cases/{case['id']}/advocacy", {"kind": "meeting", "area": "education", "occurred_at": ago(days=11)}
    )
    assert early.status_code == 422 and early.json()["errors"][0]["pointer"] == "/occurred_at"
    too_early: list[tuple[str, dict[str, Any]]] = [
        ("assessments", {"assessed_at": ago(days=12), "living_situation": "family", "trafficker_contact": "none",
                         "education": "attending", "cjs_involvement": []}),
        ("nrm-decisions", {"stage": "reasonable_grounds", "outcome": "positive", "decided_at": ago(days=12)}),
        ("moves", {"moved_at": ago(days=12), "local_authority_code": "E08000012"}),
        ("missing-episodes", {**EPISODE, "started_at": ago(days=12)}),
    ]  # fmt: skip
    for path, body in too_early:
        r = await stack.post(f"/v1/cases/{case['id']}/{path}", body)
        assert r.status_code == 422, (path, r.text)
        assert (
            r.json()["errors"][0]["pointer"].startswith("/") and r.headers["content-type"] == "application/problem+json"
        )
        assert (await stack.get(f"/v1/cases/{case['id']}/{path}")).json()["items"] == []
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["version"] == 1
    assert [e["type"] for e in await stack.events(want=1)] == ["ictg.case.opened.v1"]
