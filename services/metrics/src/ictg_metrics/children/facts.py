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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

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


def fold(events: Iterable[Ev]) -> dict[str, Any]:
    """The child's facts: a row of `metrics.child` (without its key). Pure; see the module doc."""
    unique = {e.id: e for e in events}
    ordered = sorted(unique.values(), key=lambda e: (e.time, e.id))
    out: dict[str, Any] = {k: None for k in SCALARS}
    out.update(facts={}, exploitation_type=[], cjs_involvement=[])
    case_id = None
    # Records are keyed by their own id: a contact told twice under two event ids is one contact.
    contacts: dict[str, tuple[datetime, ContactRecorded]] = {}
    allocations: dict[str, datetime] = {}
    # (time, state) of every allocation and every release (a pathway switch that left no fitting worker)
    allocation_states: dict[str, tuple[datetime, str]] = {}
    advocacy: dict[str, tuple[datetime, AdvocacyRecorded]] = {}
    moves: dict[str, tuple[datetime, CaseMoved]] = {}
    decisions: dict[str, tuple[datetime, NrmDecisionRecorded]] = {}
    episodes: dict[str, dict[str, Any]] = {}
    exit_: CaseExited | None = None
    for e in ordered:
        d = parse_data(e.type, e.data)  # None for a type the fold does not know
        if isinstance(d, ReferralReceived):
            out.update(_referral(d))
        elif isinstance(d, CaseOpened):
            case_id = str(d.case_id)
        elif isinstance(d, CaseAllocated):
            allocations[str(d.allocation_id)] = d.allocated_at
            allocation_states[e.id] = (d.allocated_at, codes.ALLOCATED)
        elif isinstance(d, CasePathwayChanged) and d.unallocated:
            allocation_states[e.id] = (d.changed_at, codes.AWAITING_ALLOCATION)
        elif isinstance(d, ContactRecorded):
            contacts[str(d.contact_id)] = (d.occurred_at, d)
        elif isinstance(d, AdvocacyRecorded):
            advocacy[str(d.advocacy_id)] = (d.occurred_at, d)
        elif isinstance(d, CaseMoved):
            moves[str(d.move_id)] = (d.moved_at, d)
        elif isinstance(d, NrmDecisionRecorded):
            decisions[str(d.decision_id)] = (d.decided_at, d)
        elif isinstance(d, MissingStarted | MissingEnded):
            ep = episodes.setdefault(str(d.episode_id), {"start": None, "end": None, "at_referral": False})
            ep["start"] = d.started_at
            if isinstance(d, MissingStarted):
                ep["at_referral"] = ep["at_referral"] or d.at_referral
            else:
                ep["end"] = d.ended_at
        elif isinstance(d, CaseExited):
            exit_ = d  # the latest exit wins
    if case_id:
        out["facts"] = {**out["facts"], "case_id": case_id}
    if allocations:
        out["allocated_at"] = min(allocations.values())
        out["allocated_on"] = clock.london_date(out["allocated_at"])
    if exit_:
        out.update(exited_at=exit_.exited_at, exit_on=clock.london_date(exit_.exited_at),
                   exit_reason=exit_.reason, exit_destination=exit_.destination)  # fmt: skip
    out.update(_contacts(contacts))
    legal = sorted((clock.london_date(t), a.area) for t, a in advocacy.values() if a.kind == "legal_advice")
    out["legal_on"], out["legal_area"] = first_seen(legal)
    out.update(_dated_pairs(allocation_states, "allocation_state_on", "allocation_state", lambda state: state))
    out.update(_dated_pairs(moves, "move_on", "move_la", lambda m: m.local_authority_code))
    out["move_region"] = [m.region for _, m in sorted(moves.values(), key=_by_time)]
    for stage, prefix in (("reasonable_grounds", "rg"), ("conclusive_grounds", "cg")):
        out.update(_dated_pairs(decisions, f"{prefix}_on", f"{prefix}_outcome", lambda n: n.outcome,
                                keep=lambda n, s=stage: n.stage == s))  # fmt: skip
    out.update(_missing(episodes, received_at=out["received_at"], exited_at=out["exited_at"]))
    return out


def _by_time(item: tuple[datetime, Any]) -> tuple[datetime, str]:
    # Ties broken by the record's content, so that equal times sort the same in any event order.
    # (Its JSON, not its repr: 17 us a record against 77 us, on the hot path of every fold.)
    record = item[1]
    return item[0], record.model_dump_json() if isinstance(record, BaseModel) else repr(record)


def _dated_pairs(
    records: dict[str, tuple[datetime, Any]], on: str, value: str, pick: Any, *, keep: Any = None
) -> dict[str, list[Any]]:
    chosen = sorted(((t, d) for t, d in records.values() if keep is None or keep(d)), key=_by_time)
    return {on: [clock.london_date(t) for t, _ in chosen], value: [pick(d) for _, d in chosen]}


def _contacts(contacts: dict[str, tuple[datetime, ContactRecorded]]) -> dict[str, Any]:
    ordered = sorted(contacts.values(), key=_by_time)
    made = [(clock.london_date(t), c) for t, c in ordered if c.outcome == "made"]
    with_child = [(on, c) for on, c in made if c.party == "child"]
    f2f = [(on, c) for on, c in with_child if c.method == "face_to_face"]
    third = [(on, str(c.party)) for on, c in made if c.party != "child"]
    topic_on, topic = first_seen(sorted((on, t) for on, c in f2f for t in set(c.topics)))
    main_tp_on, main_tp = main_party_timeline(third)
    first = ordered[0][0] if ordered else None
    return {
        "first_contact_at": first,
        "first_contact_on": clock.london_date(first) if first else None,
        "child_contact_on": [on for on, _ in with_child],
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
    for on in sorted(by_day):
        for party in by_day[on]:
            counts[party] = counts.get(party, 0) + 1
        main = min(counts, key=lambda p: (-counts[p], p))
        if not parties or parties[-1] != main:
            days.append(on)
            parties.append(main)
    return days, parties


def _missing(
    episodes: dict[str, dict[str, Any]], *, received_at: datetime | None, exited_at: datetime | None
) -> dict[str, Any]:
    known = sorted(
        (ep for ep in episodes.values() if ep["start"] is not None),
        key=lambda ep: (ep["start"], ep["end"] or ep["start"]),
    )
    in_service = [
        ep["start"] for ep in known
        if not ep["at_referral"] and received_at is not None and ep["start"] > received_at
        and (exited_at is None or ep["start"] < exited_at)
    ]  # fmt: skip
    return {
        "missing_start_on": [clock.london_date(ep["start"]) for ep in known],
        "missing_end_on": [clock.london_date(ep["end"]) if ep["end"] else None for ep in known],
        "missing_in_service_on": clock.london_date(min(in_service)) if in_service else None,
    }


NOT_ABOUT_A_CHILD = ("ictg.webhook.",)


def child_key(type_: str, subject: str, data: dict[str, Any]) -> str | None:
    """Which child an event is about: the referral id (case events carry it in `data`); None for an
    event about no child (the webhooks service's). Raises `pydantic.ValidationError` for an event that
    breaks its contract."""
    if type_.startswith(NOT_ABOUT_A_CHILD):
        return None
    d = parse_data(type_, data)
    if isinstance(d, ReferralReceived):
        return subject
    if isinstance(d, CaseEventData):
        return str(d.referral_id)
    return str(data["referral_id"])  # a type this version does not know: case events all carry it
