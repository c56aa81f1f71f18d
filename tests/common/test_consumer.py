"""The consumer runner: a duplicate changes nothing; a poison message is parked, the rest flow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.consumer import Consumer, ConsumerRunner
from ictg_common.db import create_engine, create_sessionmaker
from ictg_common.events import CloudEvent, make_event
from ictg_common.natslink import NatsLink

from conftest import eventually


async def _setup(s: dict[str, Any], handler: Any, *, max_deliver: int = 3) -> tuple[Any, Any, Any, Any]:
    engine = create_engine(s["database_url"])
    sessions = create_sessionmaker(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE public.seen (n int)"))
    link = NatsLink(s["nats_url"], stream=s["nats_stream"], subject_prefix=s["subject_prefix"])
    link.start()
    consumer = Consumer(
        name="test-consumer", filter_subjects=[f"{s['subject_prefix']}.>"], handler=handler, schema="metrics",
        max_deliver=max_deliver, backoff_base=0.05,
    )  # fmt: skip
    runner = ConsumerRunner(consumer, link=link, sessionmaker=sessions)
    runner.start()
    await link.jetstream()  # connected, stream created
    return engine, sessions, link, runner


async def _publish(s: dict[str, Any], events: list[CloudEvent], *, msg_id: bool = True) -> None:
    nc = await nats.connect(s["nats_url"])
    js = nc.jetstream()
    for e in events:
        headers = {"Nats-Msg-Id": str(e.id)} if msg_id else None
        await js.publish(e.nats_subject(s["subject_prefix"]), e.to_json(), headers=headers)
    await nc.close()


def _event(n: int) -> CloudEvent:
    return make_event(service="cases", name="contact.recorded", subject="c", time=datetime.now(UTC), data={"n": n})


async def _rows(engine: Any, sql: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())


async def seen(session: AsyncSession, event: CloudEvent) -> None:
    await session.execute(text("INSERT INTO public.seen VALUES (:n)"), {"n": event.data["n"]})


async def test_same_event_twice_changes_nothing_the_second_time(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    engine, _, link, runner = await _setup(s, seen)
    first, again = _event(1), _event(2)
    # Delivered twice past the stream's dedupe (no Nats-Msg-Id): the inbox must absorb it.
    await _publish(s, [first, first, again], msg_id=False)
    await eventually(lambda: _rows(engine, "SELECT n FROM public.seen WHERE n = 2"))
    assert sorted(r.n for r in await _rows(engine, "SELECT n FROM public.seen")) == [1, 2]
    # And a replay straight into the runner is refused as already handled.
    assert await runner.process(first) is False
    assert len(await _rows(engine, "SELECT n FROM public.seen")) == 2
    await runner.stop()
    await link.close()
    await engine.dispose()


async def test_failing_handler_ends_in_dead_letter_and_later_events_flow(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    attempts: list[int] = []

    async def picky(session: AsyncSession, event: CloudEvent) -> None:
        if event.data["n"] == 13:
            attempts.append(13)
            await seen(session, event)  # written, then rolled back with the failure
            raise ValueError("cannot handle 13")
        await seen(session, event)

    engine, _, link, runner = await _setup(s, picky, max_deliver=3)
    poison, fine = _event(13), _event(14)
    await _publish(s, [poison, fine])
    await eventually(lambda: _rows(engine, "SELECT n FROM public.seen WHERE n = 14"))
    parked = await eventually(lambda: _rows(engine, "SELECT event_id, deliveries, error FROM metrics.dead_letter"))
    assert [(str(p.event_id), p.deliveries) for p in parked] == [(str(poison.id), 3)]
    assert "cannot handle 13" in parked[0].error
    assert len(attempts) == 3
    assert [r.n for r in await _rows(engine, "SELECT n FROM public.seen")] == [14]  # the failures left nothing
    after = _event(15)
    await _publish(s, [after])
    await eventually(lambda: _rows(engine, "SELECT n FROM public.seen WHERE n = 15"))

    # Fixed, the parked message replays and leaves the dead-letter table.
    runner.c.handler = seen
    assert await runner.replay_dead_letters() == (1, 0)
    assert sorted(r.n for r in await _rows(engine, "SELECT n FROM public.seen")) == [13, 14, 15]
    assert await _rows(engine, "SELECT * FROM metrics.dead_letter") == []
    await runner.stop()
    await link.close()
    await engine.dispose()


async def test_unparseable_message_is_parked_at_once(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    engine, _, link, runner = await _setup(s, seen)
    nc = await nats.connect(s["nats_url"])
    await nc.jetstream().publish(f"{s['subject_prefix']}.cases.junk", b"not json")
    await nc.close()
    parked = await eventually(lambda: _rows(engine, "SELECT subject, deliveries, payload FROM metrics.dead_letter"))
    assert [(p.subject, p.deliveries, p.payload) for p in parked] == [
        (f"{s['subject_prefix']}.cases.junk", 1, "not json")
    ]
    await runner.stop()
    await link.close()
    await engine.dispose()
