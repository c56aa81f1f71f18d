"""Bulk load of a synthetic caseload straight into `metrics.event` and `metrics.child` (national scale).

The same rows the consumer would write — every event stored once, each child folded by the same
pure `fold()` — but by COPY, in parallel worker processes, chunk by chunk. For the benchmark and
for trying queries at volume; live systems fill these tables from the stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from ictg_common.db import plain_url

from ..admin.rebuild import ROW_COLUMNS, child_record
from ..children.facts import Ev
from ..children.store import child_row
from .generate import Generator

EVENT_COLUMNS = ("id", "type", "child_id", "time", "data", "stored_at")
CHUNK = 1_000


def _chunk_rows(
    seed: int, chunk: int, size: int, start: date, end: date
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    gen = Generator(seed * 1_000_003 + chunk, start=start, end=end)
    events: list[tuple[Any, ...]] = []
    children: list[tuple[Any, ...]] = []
    for story in gen.stories(size):
        child_id = UUID(story.referral_id)
        evs = []
        for _service, name, time, data, event_id in story.events:
            type_ = f"ictg.{name}.v1"
            # stored when it happened, as a live consumer would have (and as old as the history it is)
            events.append((UUID(event_id), type_, child_id, time, json.dumps(data), time))
            evs.append(Ev(event_id, type_, time, data))
        children.append(child_record(child_row(child_id, evs)))
    return events, children


async def _copy(url: str, events: list[tuple[Any, ...]], children: list[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("event", schema_name="metrics", records=events, columns=EVENT_COLUMNS)
            await conn.copy_records_to_table("child", schema_name="metrics", records=children, columns=ROW_COLUMNS)
    finally:
        await conn.close()


def load_chunk(url: str, seed: int, chunk: int, size: int, start: date, end: date) -> tuple[int, int]:
    """Generate, fold and COPY one chunk of children (runs in a worker process). Returns (children, events)."""
    events, children = _chunk_rows(seed, chunk, size, start, end)
    asyncio.run(_copy(url, events, children))
    return len(children), len(events)


def load(
    url: str, children: int, *, seed: int = 1, workers: int = 2, start: date = date(2017, 2, 1),
    end: date = date(2020, 1, 31), progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:  # fmt: skip
    """Load `children` synthetic children; `progress(children, events)` after each chunk. Returns the totals."""
    sizes = [min(CHUNK, children - i) for i in range(0, children, CHUNK)]
    done_children = done_events = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(load_chunk, url, seed, i, size, start, end) for i, size in enumerate(sizes)]
        for future in as_completed(futures):
            c, e = future.result()
            done_children, done_events = done_children + c, done_events + e
            if progress:
                progress(c, e)
    return done_children, done_events
