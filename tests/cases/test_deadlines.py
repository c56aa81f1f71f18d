"""The deadline rules' SQL is the Python rule: both are evaluated on the same generated cases in a
real Postgres (`ictg_cases.domain.deadlines` writes each rule once and derives both; this proves it,
including at the boundaries where a time equals the deadline and where a column is null)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ictg_cases.domain import deadlines
from ictg_cases.models import Case
from ictg_common.codes import CASE_STATUSES
from ictg_common.db import async_url

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# A coarse grid of times, so that equal times (the rules' boundaries) come up often.
when = st.integers(0, 6).map(lambda h: T0 + timedelta(hours=h))
maybe = st.none() | when

facts = st.fixed_dictionaries(
    {
        "status": st.sampled_from(CASE_STATUSES),
        "opened_at": when,
        "allocation_due_by": when,
        "first_allocated_at": maybe,
        "first_contact_due_by": when,
        "first_contact_at": maybe,
        "exited_at": maybe,
    }
)


def _row(f: dict[str, Any]) -> dict[str, Any]:
    return {
        **f, "id": uuid4(), "referral_id": uuid4(), "received_at": T0, "region": "north_west",
        "pathway": "direct_worker", "local_authority_code": "E08000003", "attributes": {}, "personal": {}, "version": 1,
    }  # fmt: skip


async def _sql_answers(engine: AsyncEngine, rows: list[dict[str, Any]], now: datetime) -> dict[str, set[Any]]:
    async with engine.begin() as conn:
        await conn.execute(delete(Case))
        if rows:
            await conn.execute(insert(Case), rows)
        answers: dict[str, set[Any]] = {}
        for clock in deadlines.CLOCKS:
            q = select(Case.id).where(deadlines.missed_sql(Case, clock, now=now))
            answers[clock] = set((await conn.scalars(q)).all())
        q = select(Case.id).where(deadlines.overdue_sql(Case, now=now))
        answers["overdue"] = set((await conn.scalars(q)).all())
        return answers


def test_sql_and_python_agree_on_every_generated_case(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    engine = create_async_engine(async_url(database_url))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(facts, max_size=8), when)
    def check(generated: list[dict[str, Any]], now: datetime) -> None:
        rows = [_row(f) for f in generated]
        sql = loop.run_until_complete(_sql_answers(engine, rows, now))
        cases = [SimpleNamespace(**r) for r in rows]
        for clock in deadlines.CLOCKS:
            assert sql[clock] == {c.id for c in cases if deadlines.missed(c, clock, now=now)}, clock
        assert sql["overdue"] == {c.id for c in cases if deadlines.overdue(c, now=now)}

    try:
        check()
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()
