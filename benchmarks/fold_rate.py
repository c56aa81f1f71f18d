"""Events/s through the metrics consumer's handler (`record_events`, batches of 100 in one transaction
each) for a synthetic stream; not part of the suite. Run: `.venv/bin/python benchmarks/fold_rate.py`.

The stream is every story's events in time order (as the producers' relays publish them), shuffled
within windows of `--jitter` events (two relays interleaving, redeliveries): an event that lands in a
later batch than one of its child's later events arrives out of order and refolds its child.

`--mode incremental`: today's handler (applies new events to the stored fold state).
`--mode refold`: the handler before it, for comparison: every event inserted on its own and its child's
whole history read and folded again (the same `fold`), the row upserted.
Uses ICTG_DATABASE_URL if set, else an embedded Postgres of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from datetime import date
from pathlib import Path
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common.db import create_engine
from ictg_common.devinfra import ensure_database, scratch_infra
from ictg_common.events import CloudEvent
from ictg_common.migrate import upgrade
from ictg_metrics.app import MIGRATIONS
from ictg_metrics.children.facts import Ev, child_key
from ictg_metrics.children.store import child_row, record_events
from ictg_metrics.models import Child, Event
from ictg_metrics.synth.generate import Generator
from ictg_metrics.synth.stream import cloud_events

ROOT = Path(__file__).resolve().parents[1]


def stream(children: int, seed: int, jitter: int) -> list[CloudEvent]:
    gen = Generator(seed, start=date(2017, 2, 1), end=date(2020, 1, 31))
    events = sorted((e for s in gen.stories(children) for e in cloud_events(s)), key=lambda e: e.time)
    rnd = random.Random(seed)
    for i in range(0, len(events), jitter if jitter > 1 else len(events) + 1):
        window = events[i : i + jitter]
        rnd.shuffle(window)
        events[i : i + jitter] = window
    return events


async def record_event_refold(session: AsyncSession, event: CloudEvent) -> None:
    """The handler before the incremental fold (one event: insert, read the whole history, fold, upsert)."""
    key = child_key(event.type, event.subject, event.data)
    if key is None:
        return
    child_id = UUID(key)
    stored = await session.execute(
        insert(Event)
        .values(
            id=event.id,
            type=event.type,
            child_id=child_id,
            time=event.time,
            data=event.data,
            stored_at=func.clock_timestamp(),
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Event.id)
    )
    if stored.first() is None:
        return
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": str(child_id)})
    rows = (
        await session.execute(select(Event.id, Event.type, Event.time, Event.data).where(Event.child_id == child_id))
    ).all()
    values = child_row(child_id, [Ev(str(r.id), r.type, r.time, r.data) for r in rows])
    await session.execute(
        insert(Child).values(**values).on_conflict_do_update(index_elements=["child_id"], set_=values)
    )


async def run(url: str, events: list[CloudEvent], mode: str, batch: int) -> None:
    engine = create_engine(url, pool_size=1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE metrics.event, metrics.child, metrics.child_fold"))
    refolds = 0
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for i in range(0, len(events), batch):
        async with sessions() as session, session.begin():
            if mode == "incremental":
                await record_events(session, events[i : i + batch])
            else:
                for e in events[i : i + batch]:
                    await record_event_refold(session, e)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    async with engine.connect() as conn:
        children = (await conn.execute(text("SELECT count(*) FROM metrics.child"))).scalar()
    await engine.dispose()
    print(
        f"{mode}: {len(events)} events, {children} children, batches of {batch}: {wall:.1f} s, "
        f"{len(events) / wall:,.0f} events/s; handler process CPU {cpu * 1e6 / len(events):.0f} us/event"
        + (f" ({refolds} refolds)" if refolds else ""),
        file=sys.stderr,
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--children", type=int, default=1_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--jitter", type=int, default=200)
    p.add_argument("--mode", choices=["incremental", "refold", "both"], default="both")
    args = p.parse_args()
    events = stream(args.children, args.seed, args.jitter)
    modes = ["refold", "incremental"] if args.mode == "both" else [args.mode]
    with scratch_infra(ROOT / ".run" / f"fold-rate-{os.getpid()}") as infra:
        url = f"{infra.database_url.rsplit('/', 1)[0]}/ictg_fold_rate"
        ensure_database(url)
        upgrade(MIGRATIONS, url)
        for mode in modes:
            asyncio.run(run(url, events, mode, args.batch))


if __name__ == "__main__":
    main()
