"""Each child's facts as a pure function of that child's events: order- and duplicate-insensitive.

Events are deduplicated by id (and records by their own id: a contact counted once even if it came
twice under two event ids) and sorted by (time, id) before folding, so any permutation or
repetition of the same events yields the same facts.

The facts are *dated*: anything that depends on `as_of` is kept as the London date it happened
(sorted arrays of dates, with parallel arrays of values), so the query evaluates "as of the end of
that day" in SQL — `width_bucket(as_of, dates)` is the number of dates on or before `as_of`.
Facts fixed at referral go into the JSON `facts` column.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from ictg_common import clock, codes
from ictg_common.contracts import (
    AdvocacyRecorded,
    CaseAllocated,
    CaseEventData,
    CaseExited,
    CaseMoved,
    CaseOpened,
    CasePathwayChanged,
    ContactRecorded,
    EventData,
    MissingEnded,
    MissingStarted,
    NrmDecisionRecorded,
    ReferralReceived,
    ReturnInterviewRecorded,
    parse_data,
)

from .referral import AT_REFERRAL, DERIVED, referral_columns
from .state import (
    Advocacy,
    AllocationState,
    Contact,
    Decision,
    Episode,
    Exit,
    FoldState,
    Interview,
    Move,
    empty_state,
)


@dataclass(frozen=True)
class Ev:
    """An event as stored: `data` is parsed with the contract's model of `type` when folded."""

    id: str
    type: str
    time: datetime
    data: dict[str, Any]


ARRAYS = (
    "exploitation_type", "cjs_involvement", "child_contact_on", "f2f_contact_on", "tp_contact_on", "main_tp_on",
    "main_tp", "topic_on", "topic", "legal_on", "legal_area", "missing_start_on", "missing_end_on", "move_on",
    "move_la", "move_region", "rg_on", "rg_outcome", "cg_on", "cg_outcome", "allocation_state_on", "allocation_state",
    "return_due_on", "return_interview_met",
)  # fmt: skip
SCALARS = (
    *AT_REFERRAL, *(d for d in DERIVED if d not in ARRAYS), "received_at", "received_on", "identified_on",
    "allocated_at", "allocated_on", "first_contact_at", "first_contact_on", "exited_at", "exit_on", "exit_reason",
    "exit_destination", "missing_in_service_on",
)  # fmt: skip
COLUMNS = ("facts", *SCALARS, *ARRAYS)


# --- the fold: a left fold of the ordered events into a plain state, then `finish` --------------------
#
# The state (`state.FoldState`) is stored per child, so that an event arriving in order is applied to
# it without reading the child's history. `fold()` (every event at once) and the store's incremental
# path run the same `apply` and `finish`.

_REFERRAL_TIMES = ("received_at", "allocation_due_by", "first_contact_due_by")
_REFERRAL_DATES = ("received_on", "identified_on")


def _utc(t: datetime) -> str:
    """UTC ISO text of fixed width: text order is time order."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _dated(t: datetime) -> tuple[str, str]:
    return _utc(t), clock.london_date(t).isoformat()


def _at(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s is not None else None


def _referral_state(d: ReferralReceived) -> dict[str, Any]:
    out = referral_columns(d)
    for k in (*_REFERRAL_TIMES, *_REFERRAL_DATES):
        out[k] = out[k].isoformat() if out[k] is not None else None
    return out


def _on_referral(state: FoldState, event_id: str, d: ReferralReceived) -> None:
    state["referral"] = _referral_state(d)  # the latest referral wins


def _on_opened(state: FoldState, event_id: str, d: CaseOpened) -> None:
    state["case_id"] = str(d.case_id)


def _on_allocated(state: FoldState, event_id: str, d: CaseAllocated) -> None:
    state["allocations"][str(d.allocation_id)] = _utc(d.allocated_at)
    state["allocation_states"][event_id] = AllocationState(*_dated(d.allocated_at), codes.ALLOCATED)


def _on_pathway_changed(state: FoldState, event_id: str, d: CasePathwayChanged) -> None:
    if d.unallocated:
        state["allocation_states"][event_id] = AllocationState(*_dated(d.changed_at), codes.AWAITING_ALLOCATION)


def _on_contact(state: FoldState, event_id: str, d: ContactRecorded) -> None:
    state["contacts"][str(d.contact_id)] = Contact(*_dated(d.occurred_at), d.outcome, d.party, d.method, list(d.topics))


def _on_advocacy(state: FoldState, event_id: str, d: AdvocacyRecorded) -> None:
    state["advocacy"][str(d.advocacy_id)] = Advocacy(*_dated(d.occurred_at), d.kind, d.area)


def _on_moved(state: FoldState, event_id: str, d: CaseMoved) -> None:
    state["moves"][str(d.move_id)] = Move(*_dated(d.moved_at), d.model_dump_json(), d.local_authority_code, d.region)


def _on_decision(state: FoldState, event_id: str, d: NrmDecisionRecorded) -> None:
    state["decisions"][str(d.decision_id)] = Decision(*_dated(d.decided_at), d.model_dump_json(), d.stage, d.outcome)


def _episode(state: FoldState, episode_id: UUID) -> tuple[str, Episode]:
    """The episode's key and record (a new one, in the order first seen, if there is none yet)."""
    episodes = state["episodes"]
    key = str(episode_id)
    return key, episodes.get(key) or Episode(start=None, end=None, at_referral=False, seen=len(episodes))


def _on_missing_started(state: FoldState, event_id: str, d: MissingStarted) -> None:
    key, ep = _episode(state, d.episode_id)
    state["episodes"][key] = ep._replace(start=d.started_at.isoformat(), at_referral=ep.at_referral or d.at_referral)


def _on_missing_ended(state: FoldState, event_id: str, d: MissingEnded) -> None:
    key, ep = _episode(state, d.episode_id)
    state["episodes"][key] = ep._replace(start=d.started_at.isoformat(), end=d.ended_at.isoformat())


def _on_return_interview(state: FoldState, event_id: str, d: ReturnInterviewRecorded) -> None:
    # One per episode; the latest event about it, in (time, id) order, wins.
    state["interviews"][str(d.episode_id)] = Interview(d.offered_at.isoformat(), d.within_72h)


def _on_exited(state: FoldState, event_id: str, d: CaseExited) -> None:
    state["exit"] = Exit(d.exited_at.isoformat(), d.reason, d.destination)  # the latest exit wins


EVENT_HANDLERS: dict[type[EventData], Callable[[FoldState, str, Any], None]] = {
    ReferralReceived: _on_referral,
    CaseOpened: _on_opened,
    CaseAllocated: _on_allocated,
    CasePathwayChanged: _on_pathway_changed,
    ContactRecorded: _on_contact,
    AdvocacyRecorded: _on_advocacy,
    CaseMoved: _on_moved,
    NrmDecisionRecorded: _on_decision,
    MissingStarted: _on_missing_started,
    MissingEnded: _on_missing_ended,
    ReturnInterviewRecorded: _on_return_interview,
    CaseExited: _on_exited,
}
"""What each event the fold knows does to the state; other events (assessments, breaches) change nothing."""


def apply(state: FoldState, ev: Ev) -> FoldState:
    """`state` after the event `ev` (which sorts after every event already applied). Updates `state`
    in place and returns it. Raises `pydantic.ValidationError` for data that breaks its contract."""
    return apply_data(state, ev.id, parse_data(ev.type, ev.data))


def apply_data(state: FoldState, event_id: str, d: EventData | None) -> FoldState:
    """`apply` with the event's data already parsed (None: a type the fold does not know)."""
    if d is None:
        return state
    handler = EVENT_HANDLERS.get(type(d))
    if handler is not None:
        handler(state, event_id, d)
    return state


def ordered(events: Iterable[Ev]) -> list[Ev]:
    """The events once each (by id), in the fold's order: (time, id)."""
    unique = {e.id: e for e in events}
    return sorted(unique.values(), key=lambda e: (e.time, e.id))


def fold_state(events: Iterable[Ev]) -> FoldState:
    """The state after every event (any order, any repetition)."""
    state = empty_state()
    for e in ordered(events):
        apply(state, e)
    return state


def fold(events: Iterable[Ev]) -> dict[str, Any]:
    """The child's facts: a row of `metrics.child` (without its key). Pure; see the module doc."""
    return finish(fold_state(events))


def finish(state: FoldState) -> dict[str, Any]:
    """The child's facts (a row of `metrics.child` without its key) from the state of its events."""
    out: dict[str, Any] = {k: None for k in SCALARS}
    out.update(facts={}, exploitation_type=[], cjs_involvement=[])
    out.update(_at_referral(state["referral"]))
    if state["case_id"]:
        out["facts"] = {**out["facts"], "case_id": state["case_id"]}
    if state["allocations"]:
        out["allocated_at"] = datetime.fromisoformat(min(state["allocations"].values()))
        out["allocated_on"] = clock.london_date(out["allocated_at"])
    if (exit_ := state["exit"]) is not None:
        out["exited_at"] = datetime.fromisoformat(exit_.time)
        out.update(exit_on=clock.london_date(out["exited_at"]), exit_reason=exit_.reason,
                   exit_destination=exit_.destination)  # fmt: skip
    day = functools.cache(date.fromisoformat)  # many records share a day
    out.update(_contacts(state["contacts"], day))
    legal = sorted((day(a.on), a.area) for a in state["advocacy"].values() if a.kind == "legal_advice")
    out["legal_on"], out["legal_area"] = first_seen(legal)
    out.update(_allocation_states(state["allocation_states"], day))
    out.update(_moves(state["moves"], day))
    out.update(_decisions(state["decisions"], day))
    out.update(_missing(state["episodes"], received_at=out["received_at"], exited_at=out["exited_at"]))
    out.update(_returns(state["episodes"], state["interviews"]))
    return out


def _at_referral(referral: dict[str, Any] | None) -> dict[str, Any]:
    if referral is None:
        return {}
    out = dict(referral)
    for k in _REFERRAL_TIMES:
        out[k] = _at(referral[k])
    for k in _REFERRAL_DATES:
        out[k] = date.fromisoformat(referral[k]) if referral[k] is not None else None
    out["facts"] = dict(referral["facts"])
    out["exploitation_type"] = list(referral["exploitation_type"])
    out["cjs_involvement"] = list(referral["cjs_involvement"])
    return out


def _allocation_states(records: dict[str, AllocationState], day: Callable[[str], date]) -> dict[str, Any]:
    # ties of time broken by the state itself (awaiting_allocation after allocated), as before by its repr
    states = sorted(records.values(), key=lambda s: (s.time, repr(s.state), s.on, s.state))
    return {"allocation_state_on": [day(s.on) for s in states], "allocation_state": [s.state for s in states]}


def _moves(records: dict[str, Move], day: Callable[[str], date]) -> dict[str, Any]:
    # ties broken by the record's content (its JSON), so that equal times sort the same in any event order
    moves = sorted(records.values())
    return {
        "move_on": [day(m.on) for m in moves],
        "move_la": [m.la for m in moves],
        "move_region": [m.region for m in moves],
    }


def _decisions(records: dict[str, Decision], day: Callable[[str], date]) -> dict[str, Any]:
    decisions = sorted(records.values())  # ties broken by the record's JSON, as moves
    out: dict[str, Any] = {}
    for stage, prefix in (("reasonable_grounds", "rg"), ("conclusive_grounds", "cg")):
        chosen = [d for d in decisions if d.stage == stage]
        out[f"{prefix}_on"] = [day(d.on) for d in chosen]
        out[f"{prefix}_outcome"] = [d.outcome for d in chosen]
    return out


def _contacts(contacts: dict[str, Contact], day: Callable[[str], date]) -> dict[str, Any]:
    # (time, contact id): a total order, though nothing below depends on the order of contacts of one time
    ordered = [c for _, c in sorted(contacts.items(), key=lambda item: (item[1].time, item[0]))]
    made = [c for c in ordered if c.outcome == "made"]
    with_child = [c for c in made if c.party == "child"]
    f2f = [c for c in with_child if c.method == "face_to_face"]
    third = [(day(c.on), str(c.party)) for c in made if c.party != "child"]
    topic_on, topic = first_seen(sorted((day(c.on), t) for c in f2f for t in set(c.topics)))
    main_tp_on, main_tp = main_party_timeline(third)
    first = ordered[0] if ordered else None
    return {
        "first_contact_at": datetime.fromisoformat(first.time) if first else None,
        "first_contact_on": day(first.on) if first else None,
        "child_contact_on": [day(c.on) for c in with_child],
        "f2f_contact_on": [day(c.on) for c in f2f],
        "tp_contact_on": [on for on, _ in third],
        "main_tp_on": main_tp_on, "main_tp": main_tp,
        "topic_on": topic_on, "topic": topic,
    }  # fmt: skip


def first_seen(dated: list[tuple[date, Any]]) -> tuple[list[date], list[Any]]:
    """Each distinct value with the day it first appeared, by day: as of any day, the values seen
    so far are a prefix (so SQL takes `values[1:width_bucket(as_of, days)]`)."""
    seen: dict[Any, date] = {}
    for on, value in sorted(dated, key=lambda x: (x[0], str(x[1]))):
        seen.setdefault(value, on)
    ordered = sorted(seen.items(), key=lambda x: (x[1], str(x[0])))
    return [on for _, on in ordered], [value for value, _ in ordered]


def main_party_timeline(contacts: list[tuple[date, str]]) -> tuple[list[date], list[str]]:
    """The days the main third party (most contacts made; a tie to the alphabetically first) changed,
    and who it became: as of any day, the latest entry on or before it is the main party."""
    counts: dict[str, int] = {}
    days: list[date] = []
    parties: list[str] = []
    by_day: dict[date, list[str]] = {}
    for on, party in contacts:
        by_day.setdefault(on, []).append(party)
    main: str | None = None
    for on in sorted(by_day):
        for party in by_day[on]:
            counts[party] = counts.get(party, 0) + 1
        # counts only grow: the main party is the one before or one counted today
        candidates = set(by_day[on]) if main is None else {main, *by_day[on]}
        main = min(candidates, key=lambda p: (-counts[p], p))
        if not parties or parties[-1] != main:
            days.append(on)
            parties.append(main)
    return days, parties


class _Spell(NamedTuple):
    start: datetime
    end: datetime | None
    at_referral: bool
    seen: int


def _missing(
    episodes: dict[str, Episode], *, received_at: datetime | None, exited_at: datetime | None
) -> dict[str, Any]:
    # by (start, end or start), then the order episodes were first seen in (as when this was a dict in event order)
    known = sorted(
        (_Spell(datetime.fromisoformat(ep.start), _at(ep.end), ep.at_referral, ep.seen)
         for ep in episodes.values() if ep.start is not None),
        key=lambda s: (s.start, s.end or s.start, s.seen),
    )  # fmt: skip
    in_service = [
        s.start for s in known
        if not s.at_referral and received_at is not None and s.start > received_at
        and (exited_at is None or s.start < exited_at)
    ]  # fmt: skip
    return {
        "missing_start_on": [clock.london_date(s.start) for s in known],
        "missing_end_on": [clock.london_date(s.end) if s.end else None for s in known],
        "missing_in_service_on": clock.london_date(min(in_service)) if in_service else None,
    }


RETURN_INTERVIEW_DUE = timedelta(hours=72)  # statutory guidance: offered within 72 hours of the return


def _returns(episodes: dict[str, Episode], interviews: dict[str, Interview]) -> dict[str, Any]:
    """Each return from a missing episode by the London day its interview fell due (72 hours after the return),
    with whether one was offered by then: as of a day, the returns due by it are a prefix."""
    due = sorted(
        (clock.london_date(datetime.fromisoformat(ep.end) + RETURN_INTERVIEW_DUE),
         key in interviews and interviews[key].within_72h)
        for key, ep in episodes.items() if ep.end is not None
    )  # fmt: skip
    return {"return_due_on": [on for on, _ in due], "return_interview_met": [met for _, met in due]}


NOT_ABOUT_A_CHILD = ("ictg.webhook.", "ictg.referral.status_changed.")  # the referrer's view: nothing to count


def child_key(type_: str, subject: str, data: dict[str, Any]) -> str | None:
    """Which child an event is about: the referral id (case events carry it in `data`); None for an
    event about no child (the webhooks service's). Raises `pydantic.ValidationError` for an event that
    breaks its contract."""
    return parse_event(type_, subject, data)[0]


def parse_event(type_: str, subject: str, data: dict[str, Any]) -> tuple[str | None, Any]:
    """`child_key` and the event's data parsed by its contract's model (None for a type this version
    does not know, or an event about no child), for `apply_data`: one validation for both."""
    if type_.startswith(NOT_ABOUT_A_CHILD):
        return None, None
    d = parse_data(type_, data)
    return _child_of(d, subject, data), d


@functools.singledispatch
def _child_of(d: EventData | None, subject: str, data: dict[str, Any]) -> str:
    return str(data["referral_id"])  # a type this version does not know: case events all carry it


@_child_of.register
def _(d: ReferralReceived, subject: str, data: dict[str, Any]) -> str:
    return subject


@_child_of.register
def _(d: CaseEventData, subject: str, data: dict[str, Any]) -> str:
    return str(d.referral_id)
