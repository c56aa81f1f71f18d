"""The fold's state: what is kept of a child's events between two folds, stored per child as JSON
(`metrics.child_fold`) so that an event arriving in order is applied without reading the child's history.

Each record is a `NamedTuple`, stored as a JSON list of its fields in order (a tuple is a list in JSON), so
loading is cheap and records of one kind sort as tuples: by time first. Records are keyed by their own id so
that the latest event about a record, in (time, id) order, wins. `time` is UTC ISO text of fixed width (text
order is time order) with `on`, its London date (ISO), beside it, so that the fold's `finish` neither parses
times nor converts zones but for a few columns. `tie` is the record's JSON, which orders records of the same
time as before.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypedDict

STATE_VERSION = 2  # bump when the state's shape or `apply` changes: stored states of another version are refolded


class AllocationState(NamedTuple):
    """The case became allocated, or awaited allocation again."""

    time: str
    on: str
    state: str


class Contact(NamedTuple):
    time: str
    on: str
    outcome: str
    party: str
    method: str
    topics: list[str]


class Advocacy(NamedTuple):
    time: str
    on: str
    kind: str
    area: str


class Move(NamedTuple):
    time: str
    on: str
    tie: str
    la: str
    region: str


class Decision(NamedTuple):
    """An NRM decision."""

    time: str
    on: str
    tie: str
    stage: str
    outcome: str


class Episode(NamedTuple):
    """A missing episode: its start and end (ISO times as the events give them, None until known), whether
    it was open at referral, and the order it was first seen in."""

    start: str | None
    end: str | None
    at_referral: bool
    seen: int


class Interview(NamedTuple):
    """A return home interview after a missing episode (kept by episode id: one per episode): whether it was
    offered within 72 hours of the return (`ictg.return_interview.recorded.v1`'s `within_72h`)."""

    time: str
    within_72h: bool


class Exit(NamedTuple):
    time: str  # ISO, as the event gives it
    reason: str
    destination: str


class FoldState(TypedDict):
    """Plain JSON data once stored: no models."""

    v: int  # STATE_VERSION
    referral: dict[str, Any] | None  # the referral's columns (times and dates as ISO); the latest referral wins
    case_id: str | None
    allocations: dict[str, str]  # allocation id: time
    allocation_states: dict[str, AllocationState]  # by event id
    contacts: dict[str, Contact]  # by contact id
    advocacy: dict[str, Advocacy]  # by advocacy id
    moves: dict[str, Move]  # by move id
    decisions: dict[str, Decision]  # by decision id
    episodes: dict[str, Episode]  # by episode id
    interviews: dict[str, Interview]  # by episode id
    exit: Exit | None  # the latest exit wins


def empty_state() -> FoldState:
    return {
        "v": STATE_VERSION, "referral": None, "case_id": None, "allocations": {}, "allocation_states": {},
        "contacts": {}, "advocacy": {}, "moves": {}, "decisions": {}, "episodes": {}, "interviews": {},
        "exit": None,
    }  # fmt: skip


_RECORDS: dict[str, type[tuple[Any, ...]]] = {
    "allocation_states": AllocationState, "contacts": Contact, "advocacy": Advocacy, "moves": Move,
    "decisions": Decision, "episodes": Episode, "interviews": Interview,
}  # fmt: skip


def load_state(stored: dict[str, Any]) -> FoldState:
    """A state as stored (records as JSON lists) with its records as their tuples again."""
    state: dict[str, Any] = dict(stored)
    for kind, record in _RECORDS.items():
        state[kind] = {key: record._make(fields) for key, fields in stored[kind].items()}  # type: ignore[attr-defined]
    state["exit"] = Exit._make(stored["exit"]) if stored["exit"] is not None else None
    return state  # type: ignore[return-value]
