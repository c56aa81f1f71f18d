"""The consumer runner: a duplicate changes nothing; a poison message is parked, the rest flow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.background import Loop
from ictg_common.consumer import Consumer, ConsumerRunner
from ictg_common.db import create_engine, create_sessionmaker
from ictg_common.events import SOURCES, CloudEvent
from ictg_common.natslink import NatsLink
from ictg_common.outages import Unavailable
from ictg_common.runtime import NullSink
from tests.support.platform import as_tester, eventually
from tests.support.proxy import CuttableProxy


async def _setup(s: dict[str, Any], handler: Any, *, max_deliver: int = 3) -> tuple[Any, Any, Any, Any]:
    engine = create_engine(s["database_url"])
    sessions = create_sessionmaker(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE public.seen (n int)"))
    link = NatsLink(as_tester(s["nats_url"]), stream=s["nats_stream"], subject_prefix=s["subject_prefix"])
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
    nc = await nats.connect(as_tester(s["nats_url"]))
    js = nc.jetstream()
    for e in events:
        headers = {"Nats-Msg-Id": str(e.id)} if msg_id else None
        await js.publish(e.nats_subject(s["subject_prefix"]), e.to_json(), headers=headers)
    await nc.close()


def _event(n: int) -> CloudEvent:
    # the runner handles any envelope: a mechanism test need not build a real contact
    return CloudEvent(
        source=SOURCES["cases"], type="ictg.contact.recorded.v1", subject="c", time=datetime.now(UTC), data={"n": n}
    )


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
    # three counted failures, and one more if the two came in one batch (a batch's failure is not counted:
    # its events are tried again one at a time)
    assert 3 <= len(attempts) <= 4
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


async def test_a_batch_with_one_poison_event_commits_the_others_once(shared_settings: dict[str, Any]) -> None:
    """A fetched batch is one transaction; when one event in it fails, the batch is undone and its
    events handled one at a time: the others are committed and acked once, the poison one parked."""
    s = shared_settings
    batches: list[list[int]] = []

    async def all_at_once(session: AsyncSession, events: list[CloudEvent]) -> None:
        batches.append([e.data["n"] for e in events])
        for e in events:
            await picky(session, e)

    async def picky(session: AsyncSession, event: CloudEvent) -> None:
        await seen(session, event)
        if event.data["n"] == 7:
            raise ValueError("cannot handle 7")

    engine, _, link, runner = await _setup(s, picky, max_deliver=2)
    runner.c.batch_handler = all_at_once
    await runner.stop()  # publish with no one fetching, so that the events arrive as one batch
    events = [_event(n) for n in range(20)]
    await _publish(s, events)
    runner.start()
    parked = await eventually(lambda: _rows(engine, "SELECT event_id FROM metrics.dead_letter"))
    assert [str(p.event_id) for p in parked] == [str(events[7].id)]
    assert batches[0] == list(range(20))  # tried as one batch first
    assert sorted(r.n for r in await _rows(engine, "SELECT n FROM public.seen")) == [n for n in range(20) if n != 7]
    inbox = await _rows(engine, "SELECT event_id FROM metrics.inbox WHERE consumer = 'test-consumer'")
    assert sorted(str(r.event_id) for r in inbox) == sorted(str(e.id) for i, e in enumerate(events) if i != 7)

    # The next events, fine, go through as one batch and one transaction.
    await runner.stop()
    more = [_event(n) for n in range(100, 110)]
    await _publish(s, more)
    runner.start()
    await eventually(lambda: _rows(engine, "SELECT n FROM public.seen WHERE n = 109"))
    assert batches[-1] == list(range(100, 110))
    js = await link.jetstream()
    info = await eventually(lambda: _idle(js, s["nats_stream"]))
    assert info.num_ack_pending == 0 and info.num_pending == 0 and info.num_redelivered == 0
    assert len(await _rows(engine, "SELECT n FROM public.seen")) == 29  # each once
    await runner.stop()
    await link.close()
    await engine.dispose()


async def _idle(js: JetStreamContext, stream: str) -> Any:
    info = await js.consumer_info(stream, "test-consumer")
    return info if info.num_ack_pending == 0 and info.num_pending == 0 else None


async def test_unparseable_message_is_parked_at_once(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    engine, _, link, runner = await _setup(s, seen)
    nc = await nats.connect(as_tester(s["nats_url"]))
    await nc.jetstream().publish(f"{s['subject_prefix']}.cases.junk", b"not json")
    await nc.close()
    parked = await eventually(lambda: _rows(engine, "SELECT subject, deliveries, payload FROM metrics.dead_letter"))
    assert [(p.subject, p.deliveries, p.payload) for p in parked] == [
        (f"{s['subject_prefix']}.cases.junk", 1, "not json")
    ]
    await runner.stop()
    await link.close()
    await engine.dispose()


async def test_an_event_not_from_its_own_source_is_parked_not_handled(shared_settings: dict[str, Any]) -> None:
    """Found: a forged `case.exited` published to NATS reached councils and made metrics count the child as
    exited. Each service's credentials let it publish only its own subjects (NATS refuses the rest); what
    a service may publish is checked again here: its subject must be its source's, and the type must be
    one that source emits."""
    s = shared_settings
    engine, _, link, runner = await _setup(s, seen)
    prefix = s["subject_prefix"]
    exited: dict[str, Any] = {
        "type": "ictg.case.exited.v1",
        "subject": "c",
        "time": datetime.now(UTC),
        "data": {"n": 1},
    }
    forged = [
        (CloudEvent(source=SOURCES["intake"], **exited), f"{prefix}.intake.case.exited"),  # intake speaking for cases
        (CloudEvent(source=SOURCES["cases"], **exited), f"{prefix}.intake.case.exited"),  # on intake's subject
        (CloudEvent(source=SOURCES["cases"], **exited), f"{prefix}.webhooks.case.exited"),
    ]
    nc = await nats.connect(as_tester(s["nats_url"]))
    for event, subject in forged:
        await nc.jetstream().publish(subject, event.to_json(), headers={"Nats-Msg-Id": str(event.id)})
    await nc.close()
    await _publish(s, [CloudEvent(source=SOURCES["cases"], **{**exited, "data": {"n": 2}})])  # the genuine one
    await eventually(lambda: _rows(engine, "SELECT n FROM public.seen"))

    async def all_parked() -> list[Any]:
        rows = await _rows(engine, "SELECT subject, error FROM metrics.dead_letter ORDER BY id")
        return rows if len(rows) == 3 else []

    parked = await eventually(all_parked)
    assert [p.subject for p in parked] == [subject for _, subject in forged]
    assert all("not an event of this platform" in p.error for p in parked)
    assert [r.n for r in await _rows(engine, "SELECT n FROM public.seen")] == [2]
    await runner.stop()
    await link.close()
    await engine.dispose()


async def _consumer_info(s: dict[str, Any], name: str = "test-consumer") -> Any:
    nc = await nats.connect(as_tester(s["nats_url"]))
    try:
        return await nc.jetstream().consumer_info(s["nats_stream"], name)
    finally:
        await nc.close()


async def test_a_database_outage_longer_than_the_retry_budget_loses_no_event(shared_settings: dict[str, Any]) -> None:
    """The old runner spent its 3 deliveries in well under a second and dropped the event for good."""
    s = dict(shared_settings)
    proxy = await CuttableProxy(*_host_port(s["database_url"])).start()
    s["database_url"] = proxy.url_for(s["database_url"])
    direct = create_engine(shared_settings["database_url"])
    engine, _, link, runner = await _setup(s, seen, max_deliver=3)
    await _publish(s, [_event(n) for n in range(5)])
    await eventually(lambda: _count(direct, 5))
    proxy.cut()
    await _publish(s, [_event(n) for n in range(5, 25)])
    await eventually(lambda: _true(runner.paused), timeout=10)
    await asyncio.sleep(4)  # 80 x the old budget (0.05 + 0.1 s of backoff)
    assert await _rows(direct, "SELECT n FROM public.seen WHERE n >= 5") == []
    proxy.restore()
    await eventually(lambda: _count(direct, 25), timeout=30)
    assert sorted(r.n for r in await _rows(direct, "SELECT n FROM public.seen")) == list(range(25))
    assert await _rows(direct, "SELECT * FROM metrics.dead_letter") == []
    info = await eventually(lambda: _settled(s))
    assert info.config.max_deliver == -1
    await runner.stop()
    await link.close()
    await engine.dispose()
    await direct.dispose()
    await proxy.close()


async def test_a_dependency_down_for_many_attempts_spends_no_budget(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    calls: list[int] = []

    async def claim_check_down_at_first(session: AsyncSession, event: CloudEvent) -> None:
        calls.append(event.data["n"])
        if len(calls) <= 6:  # twice max_deliver=3
            raise Unavailable("intake answered 503")
        await seen(session, event)

    engine, _, link, runner = await _setup(s, claim_check_down_at_first, max_deliver=3)
    await _publish(s, [_event(1)])
    await eventually(lambda: _count(engine, 1), timeout=30)
    assert len(calls) == 7
    assert await _rows(engine, "SELECT * FROM metrics.dead_letter") == []
    await runner.stop()
    await link.close()
    await engine.dispose()


async def test_a_durable_left_by_an_older_version_stops_capping_deliveries(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    nc = await nats.connect(as_tester(s["nats_url"]))
    js = nc.jetstream()
    await js.add_stream(name=s["nats_stream"], subjects=[f"{s['subject_prefix']}.>"])
    await js.add_consumer(
        s["nats_stream"],
        ConsumerConfig(durable_name="test-consumer", ack_policy=AckPolicy.EXPLICIT, max_deliver=5, ack_wait=30),
    )
    await nc.close()
    engine, _, link, runner = await _setup(s, seen)
    await _publish(s, [_event(1)])
    await eventually(lambda: _count(engine, 1))
    assert (await _consumer_info(s)).config.max_deliver == -1
    await runner.stop()
    await link.close()
    await engine.dispose()


class _Counts(NullSink):
    def __init__(self) -> None:
        self.redeliveries = 0
        self.outcomes: dict[str, int] = {}

    def redelivered(self, consumer: str, count: int) -> None:
        self.redeliveries += count

    def handled(self, consumer: str, outcome: str, count: int = 1) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count


async def test_an_event_handled_for_longer_than_ack_wait_is_not_sent_to_another_replica(
    shared_settings: dict[str, Any],
) -> None:
    """Two replicas on one durable with a 3 s ack_wait; one handles an event for 8 s. NATS is told it is
    in progress (every second), so the other replica is never handed it meanwhile (it would be, after 3 s,
    untold); a late wake-up of up to 2 s on a loaded machine changes nothing."""
    s = shared_settings
    engine = create_engine(s["database_url"])
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE public.seen (n int)"))

    async def slow(session: AsyncSession, event: CloudEvent) -> None:
        await asyncio.sleep(8.0)
        await seen(session, event)

    link = NatsLink(as_tester(s["nats_url"]), stream=s["nats_stream"], subject_prefix=s["subject_prefix"])
    link.start()
    consumer = Consumer(name="test-consumer", filter_subjects=[f"{s['subject_prefix']}.>"], handler=slow,
                        schema="metrics", max_deliver=3, ack_wait=3.0)  # fmt: skip
    counts = _Counts()
    replicas = [ConsumerRunner(consumer, link=link, sessionmaker=create_sessionmaker(engine), sink=counts)
                for _ in range(2)]  # fmt: skip
    for runner in replicas:
        runner.start()
    try:
        await link.jetstream()
        await _publish(s, [_event(1)])
        await eventually(lambda: _rows(engine, "SELECT n FROM public.seen"), timeout=20)
        await asyncio.sleep(3.5)  # a redelivery would have been fetched by now
        assert (counts.redeliveries, counts.outcomes) == (0, {"handled": 1})
    finally:
        for runner in replicas:
            await runner.stop()
        await link.close()
        await engine.dispose()


async def test_fetch_raising_the_builtin_timeout_neither_stalls_nor_grows_the_backoff(
    shared_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-py's fetch() can raise asyncio.TimeoutError rather than its own subclass of it."""
    s = shared_settings
    raised = 0
    original = JetStreamContext.PullSubscription.fetch

    async def flaky_fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal raised
        if raised < 20:
            raised += 1
            await asyncio.sleep(0.01)
            raise TimeoutError
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(JetStreamContext.PullSubscription, "fetch", flaky_fetch)
    engine, _, link, runner = await _setup(s, seen)
    await eventually(lambda: _true(raised >= 20))
    assert runner._loop is not None and runner._loop.failures == 0  # an empty fetch is not a failure
    await _publish(s, [_event(1)])
    await eventually(lambda: _count(engine, 1), timeout=20)
    await runner.stop()
    await link.close()
    await engine.dispose()


async def test_the_loop_backoff_starts_again_after_a_success() -> None:
    gaps: list[float] = []
    last = 0.0
    outcomes = iter([False, False, False, False, True, False])

    async def step() -> None:
        nonlocal last
        now = asyncio.get_running_loop().time()
        if last:
            gaps.append(now - last)
        last = now
        ok = next(outcomes, None)
        if ok is None:
            await asyncio.sleep(3600)
        if not ok:
            raise ConnectionRefusedError

    loop = Loop("test", step)
    loop.start()
    await eventually(lambda: _true(len(gaps) >= 6), timeout=10)
    await loop.stop()
    # 0.2, 0.4, 0.8, 1.6 after failures; immediately after the success; 0.2 again, not 3.2 (bounds wide
    # enough for a loaded machine's late wake-ups, still far apart from the 1.6 and 3.2 they tell it from).
    assert gaps[3] > 1.5 and gaps[4] < 1.0 and gaps[5] < 1.5, gaps


def _host_port(url: str) -> tuple[str, int]:
    hostport = url.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    return host, int(port)


async def _count(engine: Any, n: int) -> bool:
    return len(await _rows(engine, "SELECT n FROM public.seen")) >= n


async def _true(value: bool) -> bool:
    return value


async def _settled(s: dict[str, Any]) -> Any:
    info = await _consumer_info(s)
    return info if info.num_ack_pending == 0 and info.num_pending == 0 else None
