"""Storing events and folding them into their children's facts (the consumer's handler).

A batch of events is stored with one insert (an event already stored is skipped), then each child
with new events is folded under an advisory lock (children in id order, so replicas never deadlock):
- its stored fold state (`metrics.child_fold`) is there and every new event sorts after the last event
  in it, by (time, id): the new events are applied to the state, in order, without reading the child's
  history;
- otherwise (no state yet, a state of another `STATE_VERSION`, or an event arriving out of order): the
  child's whole history is read and folded again, and its state stored.
Both run `facts.apply` and `facts.finish`, so they cannot drift apart. One upsert of `metrics.child`
and one of `metrics.child_fold` per batch.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.events import CloudEvent

from ..disclosure.cellkey import child_record_key
from ..models import Child, ChildFold, Event
from .facts import COLUMNS, Ev, apply_data, finish, fold, fold_state, ordered, parse_event
from .state import STATE_VERSION, FoldState, load_state

_INSERT_EVENTS = text(
    # stored_at: the database clock, as the rebuild compares it with its own start time
    "INSERT INTO metrics.event (id, type, child_id, time, data, stored_at) "
    "SELECT e.id, e.type, e.child_id, e.time, CAST(e.data AS jsonb), clock_timestamp() FROM unnest("
    "CAST(:ids AS uuid[]), CAST(:types AS text[]), CAST(:child_ids AS uuid[]), CAST(:times AS timestamptz[]), "
    "CAST(:data AS text[])) AS e(id, type, child_id, time, data) "
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)
# Serialise the folds of a child (events of one child may be handled concurrently by replicas).
_LOCK_CHILDREN = text(
    "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM unnest(CAST(:keys AS text[])) AS k"
)
# Before reading any state: a rebuild's swap (which empties `child_fold`) either waits for this
# transaction or has committed before it reads a state (see admin/rebuild.py).
_LOCK_CHILD_TABLE = text("LOCK TABLE metrics.child IN ROW EXCLUSIVE MODE")
_CHILD, _FOLD, _EVENT = Child.__table__, ChildFold.__table__, Event.__table__


def _upsert(table: Any, columns: Sequence[str]) -> Any:
    # a Core insert of the table (an ORM one runs the rows through the ORM's bulk path: ~10x slower),
    # built once (executed with many rows: one executemany)
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[columns[0]]], set_={k: stmt.excluded[k] for k in columns[1:]}
    )


_UPSERT_CHILD = _upsert(_CHILD, ("child_id", "referred", "record_key", *COLUMNS))
_UPSERT_FOLD = _upsert(_FOLD, ("child_id", "last_time", "last_id", "state"))


@dataclass
class _New:
    event: CloudEvent
    child_id: UUID
    data: Any  # parsed by its contract's model


async def record_event(session: AsyncSession, event: CloudEvent) -> None:
    await record_events(session, [event])


async def record_events(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
    """Store `events` (those not stored before) and fold each child's new ones into its facts, in the
    caller's transaction. Raises `pydantic.ValidationError` for an event that breaks its contract."""
    new: dict[UUID, _New] = {}
    for e in events:
        key, data = parse_event(e.type, e.subject, e.data)
        if key is not None:  # else not about a child: nothing to count
            new.setdefault(e.id, _New(e, UUID(key), data))
    if not new:
        return
    rows = [new[i] for i in sorted(new)]  # one order for every replica's insert
    stored = await session.execute(
        _INSERT_EVENTS,
        {
            "ids": [r.event.id for r in rows], "types": [r.event.type for r in rows],
            "child_ids": [r.child_id for r in rows], "times": [r.event.time for r in rows],
            "data": [json.dumps(r.event.data) for r in rows],
        },
    )  # fmt: skip
    inserted = {str(i) for i in stored.scalars()}
    by_child: dict[UUID, list[_New]] = defaultdict(list)
    for r in rows:
        if str(r.event.id) in inserted:  # else the same event again: nothing changes
            by_child[r.child_id].append(r)
    if by_child:
        await _fold_children(session, by_child)


async def _fold_children(session: AsyncSession, by_child: dict[UUID, list[_New]]) -> None:
    child_ids = sorted(by_child)
    await session.execute(_LOCK_CHILDREN, {"keys": [str(c) for c in child_ids]})
    await session.execute(_LOCK_CHILD_TABLE)
    f = _FOLD.c
    stored = {
        r.child_id: r
        for r in await session.execute(
            select(f.child_id, f.last_time, f.last_id, f.state).where(f.child_id.in_(child_ids))
        )
    }
    folded: dict[UUID, tuple[FoldState, datetime, str]] = {}
    refold: list[UUID] = []
    for child_id in child_ids:
        news = sorted(by_child[child_id], key=lambda n: (n.event.time, str(n.event.id)))
        s = stored.get(child_id)
        first = (news[0].event.time, str(news[0].event.id))
        if s is None or s.state.get("v") != STATE_VERSION or first <= (s.last_time, str(s.last_id)):
            refold.append(child_id)
            continue
        state = load_state(s.state)
        for n in news:
            apply_data(state, str(n.event.id), n.data)
        folded[child_id] = (state, news[-1].event.time, str(news[-1].event.id))
    if refold:
        folded.update(await _refold(session, refold))
    await _write(session, [(child_id, *folded[child_id]) for child_id in child_ids])


async def _refold(session: AsyncSession, child_ids: list[UUID]) -> dict[UUID, tuple[FoldState, datetime, str]]:
    """Each child's state from its whole history (as stored, this transaction's events included)."""
    events: dict[UUID, list[Ev]] = defaultdict(list)
    e = _EVENT.c
    rows = await session.execute(select(e.child_id, e.id, e.type, e.time, e.data).where(e.child_id.in_(child_ids)))
    for r in rows:
        events[r.child_id].append(Ev(str(r.id), r.type, r.time, r.data))
    out = {}
    for child_id, evs in events.items():
        evs = ordered(evs)
        out[child_id] = (fold_state(evs), evs[-1].time, evs[-1].id)
    return out


async def _write(session: AsyncSession, folded: list[tuple[UUID, FoldState, datetime, str]]) -> None:
    children = [_row(child_id, finish(state)) for child_id, state, _, _ in folded]
    await session.execute(_UPSERT_CHILD, children)
    await session.execute(
        _UPSERT_FOLD,
        [
            {"child_id": child_id, "last_time": last_time, "last_id": UUID(last_id), "state": state}
            for child_id, state, last_time, last_id in folded
        ],
    )


def _row(child_id: UUID, facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "child_id": child_id, "referred": facts["received_on"] is not None,
        "record_key": child_record_key(child_id), **facts,
    }  # fmt: skip


def child_row(child_id: UUID, events: list[Ev]) -> dict[str, object]:
    """The `metrics.child` row of one child, from all its events."""
    return _row(child_id, fold(events))


async def refold(session: AsyncSession, child_id: UUID) -> None:
    """Fold the child's whole history again (and store its state)."""
    await session.execute(_LOCK_CHILDREN, {"keys": [str(child_id)]})
    await session.execute(_LOCK_CHILD_TABLE)
    folded = await _refold(session, [child_id])
    if child_id in folded:  # else no event about the child is stored
        await _write(session, [(child_id, *folded[child_id])])
