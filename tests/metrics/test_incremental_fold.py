"""The incremental fold: applying new events to a child's stored state gives exactly the facts of
folding its whole history, whatever the arrival order, repetition or batching (out-of-order arrival
refolds); an event arriving in order does not read the child's history."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from ictg_common.db import create_engine
from ictg_common.events import CloudEvent
from ictg_metrics.children.facts import Ev, apply, empty_state, finish, fold, fold_state, ordered
from ictg_metrics.children.state import Contact, Episode, Exit, Interview, load_state
from ictg_metrics.children.store import child_row, record_events
from ictg_metrics.models import Child as ChildRow
from ictg_metrics.models import ChildFold
from tests.support.metrics_events import Child, at

START = at("2017-03-01", 9)
# few distinct times (days and hours), so that records of the same time and ties in (time, id) occur
when = st.tuples(st.integers(0, 40), st.sampled_from([0, 9, 12, 23])).map(
    lambda dh: START + timedelta(days=dh[0], hours=dh[1])
)
OPS = st.one_of(
    st.tuples(st.just("allocate"), when),
    st.tuples(st.just("release"), when),
    st.tuples(
        st.just("contact"),
        when,
        st.sampled_from(["made", "attempted"]),
        st.sampled_from(["face_to_face", "phone"]),
        st.sampled_from(["child", "social_worker", "foster_carer", "police"]),
        st.lists(st.sampled_from(["safety", "education", "health"]), max_size=2),
    ),
    # an episode: its return after so many days (None: open), and a return interview so many hours after it
    st.tuples(
        st.just("missing"),
        when,
        st.one_of(st.none(), st.integers(0, 20)),
        st.one_of(st.none(), st.tuples(st.integers(0, 100), st.sampled_from(["accepted", "declined", "not_offered"]))),
    ),
    st.tuples(
        st.just("nrm"),
        when,
        st.sampled_from(["reasonable_grounds", "conclusive_grounds"]),
        st.sampled_from(["positive", "negative"]),
    ),
    st.tuples(
        st.just("advocacy"),
        when,
        st.sampled_from(["legal_advice", "meeting"]),
        st.sampled_from(["immigration", "health"]),
    ),
    st.tuples(
        st.just("move"), when, st.sampled_from(["E09000001", "E08000003"]), st.sampled_from(["london", "north_west"])
    ),
    st.tuples(st.just("exit"), when, st.sampled_from(["turned_18", "work_completed"])),
)


def _story(missing_at_referral: bool, ops: list[tuple[Any, ...]]) -> list[CloudEvent]:
    child = Child(START, attrs={"missing_at_referral": missing_at_referral})
    for op, t, *args in ops:
        if op == "contact":
            outcome, method, party, topics = args
            child.contact(t, outcome=outcome, method=method, party=party, topics=topics)
        elif op == "missing":
            end = None if args[0] is None else t + timedelta(days=args[0])
            interview = None if end is None or args[1] is None else (end + timedelta(hours=args[1][0]), args[1][1])
            child.missing(t, end, interview=interview)
        elif op in ("allocate", "release"):
            getattr(child, op)(t)
        else:
            getattr(child, op)(t, *args)
    return child.events


STORIES = st.tuples(st.booleans(), st.lists(OPS, max_size=14))


def _ev(e: CloudEvent) -> Ev:
    return Ev(str(e.id), e.type, e.time, e.model_dump(mode="json")["data"])


def _arrival(events: list[CloudEvent], rnd: random.Random, repeats: int) -> list[CloudEvent]:
    shuffled = events + [rnd.choice(events) for _ in range(repeats)]
    rnd.shuffle(shuffled)
    return shuffled


def _batches(events: list[CloudEvent], rnd: random.Random) -> list[list[CloudEvent]]:
    out, i = [], 0
    while i < len(events):
        n = rnd.randint(1, 5)
        out.append(events[i : i + n])
        i += n
    return out


@settings(max_examples=200, deadline=None)
@given(story=STORIES)
def test_a_state_is_stored_as_json_lists_and_loaded_as_the_same_records(story: Any) -> None:
    """Records are stored as JSON lists of their fields in order, and load as the records they were."""
    state = fold_state([_ev(e) for e in _story(*story)])
    stored = json.loads(json.dumps(state))
    assert load_state(stored) == state
    for contact_id, contact in state["contacts"].items():
        assert stored["contacts"][contact_id] == [
            contact.time, contact.on, contact.outcome, contact.party, contact.method, contact.topics
        ]  # fmt: skip
    for episode_id, episode in state["episodes"].items():
        assert stored["episodes"][episode_id] == [episode.start, episode.end, episode.at_referral, episode.seen]
    assert stored["exit"] == (None if state["exit"] is None else list(state["exit"]))


def test_records_keep_their_stored_layout() -> None:
    """The stored state's layout: a change here needs a new STATE_VERSION (stored states are refolded)."""
    assert Contact._fields == ("time", "on", "outcome", "party", "method", "topics")
    assert Episode._fields == ("start", "end", "at_referral", "seen")
    assert Exit._fields == ("time", "reason", "destination")
    assert Interview._fields == ("time", "within_72h")


@settings(max_examples=300, deadline=None)
@given(STORIES, st.randoms(use_true_random=False))
def test_applying_events_in_order_to_a_stored_state_folds_the_same(story: Any, rnd: random.Random) -> None:
    """Any split of a child's ordered events: the state stored (as JSON) after each part, the next
    part applied to it, gives fold() of all events."""
    events = ordered(_ev(e) for e in _story(*story))
    state = empty_state()
    for i, e in enumerate(events):
        state = apply(state, e)
        if rnd.random() < 0.5:
            state = load_state(json.loads(json.dumps(state)))  # stored and loaded
            assert finish(state) == fold(events[: i + 1])
    assert finish(state) == fold(events) == finish(fold_state(list(reversed(events))))


async def _row(session: Any, child_id: UUID) -> dict[str, Any]:
    r = (await session.execute(select(ChildRow).where(ChildRow.child_id == child_id))).scalar_one()
    return {k: getattr(r, k) for k in child_row(child_id, [])}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(STORIES, st.randoms(use_true_random=False), st.integers(0, 6))
async def test_the_stored_facts_are_the_fold_of_the_events_stored_whatever_the_arrival(
    database_url: str, story: Any, rnd: random.Random, repeats: int
) -> None:
    """Events fed through `record_events` in shuffled batches, with repeats (out of order: refolds; in
    order: applied to the stored state): after each batch the child's row is fold() of the events so far."""
    events = _story(*story)
    child_id = UUID(events[0].subject)
    engine = create_engine(database_url, pool_size=1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        seen: dict[UUID, CloudEvent] = {}
        for batch in _batches(_arrival(events, rnd, repeats), rnd):
            async with sessions() as session, session.begin():
                await record_events(session, batch)
            seen.update((e.id, e) for e in batch)
            async with sessions() as session:
                assert await _row(session, child_id) == child_row(child_id, [_ev(e) for e in seen.values()])
                last = (await session.execute(select(ChildFold).where(ChildFold.child_id == child_id))).scalar_one()
                assert (last.last_time, str(last.last_id)) == max((e.time, str(e.id)) for e in seen.values())
    finally:
        await engine.dispose()


def _statements(engine: Any) -> list[str]:
    seen: list[str] = []
    sa_event.listen(engine.sync_engine, "before_cursor_execute", lambda _c, _cur, sql, *_: seen.append(sql))
    return seen


async def test_an_event_in_order_does_not_read_the_childs_history(database_url: str) -> None:
    child = Child(at("2017-03-01")).allocate(at("2017-03-02")).contact(at("2017-03-03"))
    later = Child(child.received_at, referral_id=child.referral_id, case_id=child.case_id)
    later.events.clear()
    later.contact(at("2017-03-04"), party="social_worker").exit(at("2017-04-01"))
    engine = create_engine(database_url, pool_size=1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    statements = _statements(engine)
    try:
        async with sessions() as session, session.begin():
            await record_events(session, child.events)  # a new child: its history (this batch) is read
        assert any("FROM metrics.event" in s for s in statements)
        statements.clear()
        async with sessions() as session, session.begin():
            await record_events(session, later.events)  # in order: applied to the stored state
        assert statements and not any("FROM metrics.event" in s for s in statements)
        child_id = UUID(child.referral_id)
        async with sessions() as session:
            row = await _row(session, child_id)
        assert row == child_row(child_id, [_ev(e) for e in child.events + later.events])
        assert row["exit_on"] is not None and len(row["tp_contact_on"]) == 1

        # one event earlier than the last one folded: the whole history is read again
        early = Child(child.received_at, referral_id=child.referral_id, case_id=child.case_id)
        early.events.clear()
        early.contact(at("2017-03-05"), party="police")
        statements.clear()
        async with sessions() as session, session.begin():
            await record_events(session, early.events)
        assert any("FROM metrics.event" in s for s in statements)
        async with sessions() as session:
            row = await _row(session, child_id)
        assert row == child_row(child_id, [_ev(e) for e in child.events + later.events + early.events])
    finally:
        await engine.dispose()


async def test_a_child_without_a_state_or_with_another_version_is_refolded(database_url: str) -> None:
    """Children stored before the fold state (or after a rebuild emptied it) and states of another
    version: the next event refolds the whole history."""
    child = Child(at("2017-03-01")).allocate(at("2017-03-02"))
    more = Child(child.received_at, referral_id=child.referral_id, case_id=child.case_id)
    more.events.clear()
    more.contact(at("2017-03-03")).contact(at("2017-03-04"))
    child_id = UUID(child.referral_id)
    engine = create_engine(database_url, pool_size=1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as session, session.begin():
            await record_events(session, child.events)
            await session.execute(text("DELETE FROM metrics.child_fold"))
        async with sessions() as session, session.begin():
            await record_events(session, more.events[:1])
            await session.execute(text("UPDATE metrics.child_fold SET state = jsonb_set(state, '{v}', '0')"))
        async with sessions() as session, session.begin():
            await record_events(session, more.events[1:])
        async with sessions() as session:
            assert await _row(session, child_id) == child_row(child_id, [_ev(e) for e in child.events + more.events])
    finally:
        await engine.dispose()
