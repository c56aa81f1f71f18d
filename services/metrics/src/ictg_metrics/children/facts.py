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
from datetime import UTC, date, datetime
from typing import Any

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
    MissingEnded,
    MissingStarted,
    NrmDecisionRecorded,
    ReferralReceived,
    parse_data,
)


@dataclass(frozen=True)
class Ev:
    """An event as stored: `data` is parsed with the contract's model of `type` when folded."""

    id: str
    type: str
    time: datetime
    data: dict[str, Any]


# Copied from referral.received into typed columns of the same name (what queries group by).
AT_REFERRAL = (
    "gender", "age_band", "age_at_referral", "nationality", "nationality_group", "uasc", "referrer_type",
    "local_authority_code", "region", "pathway", "missing_at_referral", "living_situation", "trafficker_contact",
    "education",
)  # fmt: skip
DERIVED = (
    "primary_exploitation", "exploitation_type", "county_lines", "cjs_involvement", "referral_delay_days",
    "referral_delay_band", "referral_delay_working_days", "referral_delay_working_days_band", "allocation_due_by",
    "first_contact_due_by",
)  # fmt: skip
FACTS = ("referral_id", "age_disputed", "interpreter_required", "nrm_referred")  # kept as JSON, not queried

ARRAYS = (
    "exploitation_type", "cjs_involvement", "child_contact_on", "f2f_contact_on", "tp_contact_on", "main_tp_on",
    "main_tp", "topic_on", "topic", "legal_on", "legal_area", "missing_start_on", "missing_end_on", "move_on",
    "move_la", "move_region", "rg_on", "rg_outcome", "cg_on", "cg_outcome", "allocation_state_on", "allocation_state",
)  # fmt: skip
SCALARS = (
    *AT_REFERRAL, *(d for d in DERIVED if d not in ARRAYS), "received_at", "received_on", "identified_on",
    "allocated_at", "allocated_on", "first_contact_at", "first_contact_on", "exited_at", "exit_on", "exit_reason",
    "exit_destination", "missing_in_service_on",
)  # fmt: skip
COLUMNS = ("facts", *SCALARS, *ARRAYS)


def referral_delay_band(days: int | None) -> str | None:
    """Referral delay in calendar or in working days: 0-1, 2, 3-15, 16-39, 40+."""
    if days is None:
        return None
    if days <= 1:
        return "0-1"
    if days == 2:
        return "2"
    if days <= 15:
        return "3-15"
    if days <= 39:
        return "16-39"
    return "40+"


def _referral(d: ReferralReceived) -> dict[str, Any]:
    received_on = clock.london_date(d.received_at)
    delay = (received_on - d.identified_on).days
    # England-and-Wales working days after the day identified, up to and including the day received
    working = clock.working_days_between(d.identified_on, received_on)
    exploitation = d.exploitation
    out: dict[str, Any] = {k: getattr(d, k) for k in AT_REFERRAL}
    out.update(
        facts=d.model_dump(mode="json", include=set(FACTS)),
        received_at=d.received_at, received_on=received_on, identified_on=d.identified_on,
        primary_exploitation=exploitation.primary,
        exploitation_type=sorted({exploitation.primary, *exploitation.others}),
        county_lines=exploitation.county_lines,
        cjs_involvement=sorted(set(d.cjs_involvement)),
        referral_delay_days=delay, referral_delay_band=referral_delay_band(delay),
        referral_delay_working_days=working, referral_delay_working_days_band=referral_delay_band(working),
        allocation_due_by=d.timeliness.allocation_due_by, first_contact_due_by=d.timeliness.first_contact_due_by,
    )  # fmt: skip
    return out


# --- the fold: a left fold of the ordered events into a plain state, then `finish` --------------------
#
# `FoldState` holds only plain JSON data (str, int, bool, None, lists, dicts), no models: it is stored
# per child (`metrics.child_fold`) so that an event arriving in order is applied to it without reading
# the child's history, and loading it is cheap. Records are keyed by their own id so that the latest
# event about a record, in (time, id) order, wins. A record's time is kept as UTC ISO text of fixed
# width (so text order is time order) with its London date beside it, so that `finish` neither parses
# times nor converts zones but for a few columns.
# `fold()` (every event at once) and the store's incremental path run the same `apply` and `finish`.

STATE_VERSION = 1  # bump when the state's shape or `apply` changes: stored states of another version are refolded

_REFERRAL_TIMES = ("received_at", "allocation_due_by", "first_contact_due_by")
_REFERRAL_DATES = ("received_on", "identified_on")

FoldState = dict[str, Any]
"""{"v": STATE_VERSION, "referral": the `_referral` columns (times and dates as ISO) or None,
"case_id": str or None, "allocations": {allocation_id: time}, "allocation_states": {event_id: [time,
on, state]}, "contacts": {contact_id: [time, on, outcome, party, method, topics]}, "advocacy":
{advocacy_id: [time, on, kind, area]}, "moves": {move_id: [time, on, tie, la, region]}, "decisions":
{decision_id: [time, on, tie, stage, outcome]}, "episodes": {episode_id: [start, end, at_referral,
order first seen]}, "exit": [time, reason, destination] or None}. `time`: `_utc`; `on`: its London date
(ISO); `tie`: the record's JSON, which orders records of the same time as before."""


def empty_state() -> FoldState:
    return {
        "v": STATE_VERSION, "referral": None, "case_id": None, "allocations": {}, "allocation_states": {},
        "contacts": {}, "advocacy": {}, "moves": {}, "decisions": {}, "episodes": {}, "exit": None,
    }  # fmt: skip


def _utc(t: datetime) -> str:
    """UTC ISO text of fixed width: text order is time order."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _dated(t: datetime) -> list[str]:
    return [_utc(t), clock.london_date(t).isoformat()]


def _at(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s is not None else None


def _referral_state(d: ReferralReceived) -> dict[str, Any]:
    out = _referral(d)
    for k in (*_REFERRAL_TIMES, *_REFERRAL_DATES):
        out[k] = out[k].isoformat() if out[k] is not None else None
    return out


def apply(state: FoldState, ev: Ev) -> FoldState:
    """`state` after the event `ev` (which sorts after every event already applied). Updates `state`
    in place and returns it. Raises `pydantic.ValidationError` for data that breaks its contract."""
    return apply_data(state, ev.id, parse_data(ev.type, ev.data))


def apply_data(state: FoldState, event_id: str, d: Any) -> FoldState:
    """`apply` with the event's data already parsed (None: a type the fold does not know)."""
    if isinstance(d, ReferralReceived):
        state["referral"] = _referral_state(d)  # the latest referral wins
    elif isinstance(d, CaseOpened):
        state["case_id"] = str(d.case_id)
    elif isinstance(d, CaseAllocated):
        state["allocations"][str(d.allocation_id)] = _utc(d.allocated_at)
        state["allocation_states"][event_id] = [*_dated(d.allocated_at), codes.ALLOCATED]
    elif isinstance(d, CasePathwayChanged) and d.unallocated:
        state["allocation_states"][event_id] = [*_dated(d.changed_at), codes.AWAITING_ALLOCATION]
    elif isinstance(d, ContactRecorded):
        state["contacts"][str(d.contact_id)] = [
            *_dated(d.occurred_at), d.outcome, d.party, d.method, list(d.topics)
        ]  # fmt: skip
    elif isinstance(d, AdvocacyRecorded):
        state["advocacy"][str(d.advocacy_id)] = [*_dated(d.occurred_at), d.kind, d.area]
    elif isinstance(d, CaseMoved):
        state["moves"][str(d.move_id)] = [
            *_dated(d.moved_at), d.model_dump_json(), d.local_authority_code, d.region
        ]  # fmt: skip
    elif isinstance(d, NrmDecisionRecorded):
        state["decisions"][str(d.decision_id)] = [*_dated(d.decided_at), d.model_dump_json(), d.stage, d.outcome]
    elif isinstance(d, MissingStarted | MissingEnded):
        episodes = state["episodes"]
        ep = episodes.setdefault(str(d.episode_id), [None, None, False, len(episodes)])
        ep[0] = d.started_at.isoformat()
        if isinstance(d, MissingStarted):
            ep[2] = ep[2] or d.at_referral
        else:
            ep[1] = d.ended_at.isoformat()
    elif isinstance(d, CaseExited):
        state["exit"] = [d.exited_at.isoformat(), d.reason, d.destination]  # the latest exit wins
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
    referral = state["referral"]
    if referral is not None:
        out.update(referral)
        for k in _REFERRAL_TIMES:
            out[k] = _at(referral[k])
        for k in _REFERRAL_DATES:
            out[k] = date.fromisoformat(referral[k]) if referral[k] is not None else None
        out["facts"] = dict(referral["facts"])
        out["exploitation_type"] = list(referral["exploitation_type"])
        out["cjs_involvement"] = list(referral["cjs_involvement"])
    if state["case_id"]:
        out["facts"] = {**out["facts"], "case_id": state["case_id"]}
    if state["allocations"]:
        out["allocated_at"] = datetime.fromisoformat(min(state["allocations"].values()))
        out["allocated_on"] = clock.london_date(out["allocated_at"])
    if state["exit"]:
        exited_at, reason, destination = state["exit"]
        out["exited_at"] = datetime.fromisoformat(exited_at)
        out.update(exit_on=clock.london_date(out["exited_at"]), exit_reason=reason, exit_destination=destination)
    day = functools.cache(date.fromisoformat)  # many records share a day
    out.update(_contacts(state["contacts"], day))
    legal = sorted((day(on), area) for _, on, kind, area in state["advocacy"].values() if kind == "legal_advice")
    out["legal_on"], out["legal_area"] = first_seen(legal)
    # ties of time broken by the state itself (awaiting_allocation after allocated), as before by its repr
    states = sorted((t, repr(s), on, s) for t, on, s in state["allocation_states"].values())
    out["allocation_state_on"] = [day(on) for _, _, on, _ in states]
    out["allocation_state"] = [s for _, _, _, s in states]
    # ties broken by the record's content (its JSON), so that equal times sort the same in any event order
    moves = sorted(state["moves"].values())
    out["move_on"] = [day(on) for _, on, *_ in moves]
    out["move_la"] = [la for *_, la, _ in moves]
    out["move_region"] = [region for *_, region in moves]
    decisions = sorted(state["decisions"].values())
    for stage, prefix in (("reasonable_grounds", "rg"), ("conclusive_grounds", "cg")):
        chosen = [(on, outcome) for _, on, _, s, outcome in decisions if s == stage]
        out[f"{prefix}_on"] = [day(on) for on, _ in chosen]
        out[f"{prefix}_outcome"] = [outcome for _, outcome in chosen]
    out.update(_missing(state["episodes"], received_at=out["received_at"], exited_at=out["exited_at"]))
    return out


def _contacts(contacts: dict[str, list[Any]], day: Callable[[str], date]) -> dict[str, Any]:
    # (time, contact id): a total order, though nothing below depends on the order of contacts of one time
    ordered = sorted((t, cid, on, outcome, party, method, topics)
                     for cid, (t, on, outcome, party, method, topics) in contacts.items())  # fmt: skip
    made = [(day(on), party, method, topics) for _, _, on, outcome, party, method, topics in ordered
            if outcome == "made"]  # fmt: skip
    with_child = [(on, method, topics) for on, party, method, topics in made if party == "child"]
    f2f = [(on, topics) for on, method, topics in with_child if method == "face_to_face"]
    third = [(on, str(party)) for on, party, _, _ in made if party != "child"]
    topic_on, topic = first_seen(sorted((on, t) for on, topics in f2f for t in set(topics)))
    main_tp_on, main_tp = main_party_timeline(third)
    first = datetime.fromisoformat(ordered[0][0]) if ordered else None
    return {
        "first_contact_at": first,
        "first_contact_on": day(ordered[0][2]) if ordered else None,
        "child_contact_on": [on for on, _, _ in with_child],
        "f2f_contact_on": [on for on, _ in f2f],
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


def _missing(
    episodes: dict[str, list[Any]], *, received_at: datetime | None, exited_at: datetime | None
) -> dict[str, Any]:
    # by (start, end or start), then the order episodes were first seen in (as when this was a dict in event order)
    known = sorted(
        ((datetime.fromisoformat(start), _at(end), at_referral, seen)
         for start, end, at_referral, seen in episodes.values() if start is not None),
        key=lambda ep: (ep[0], ep[1] or ep[0], ep[3]),
    )  # fmt: skip
    in_service = [
        start for start, _, at_referral, _ in known
        if not at_referral and received_at is not None and start > received_at
        and (exited_at is None or start < exited_at)
    ]  # fmt: skip
    return {
        "missing_start_on": [clock.london_date(start) for start, _, _, _ in known],
        "missing_end_on": [clock.london_date(end) if end else None for _, end, _, _ in known],
        "missing_in_service_on": clock.london_date(min(in_service)) if in_service else None,
    }


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
    if isinstance(d, ReferralReceived):
        return subject, d
    if isinstance(d, CaseEventData):
        return str(d.referral_id), d
    return str(data["referral_id"]), d  # a type this version does not know: case events all carry it
