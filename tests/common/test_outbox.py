"""The outbox relay publishes what was committed, nothing rolled back, and survives NATS outages."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import nats
import pytest

from ictg_common.db import create_engine, create_sessionmaker
from ictg_common.devinfra import EmbeddedNats
from ictg_common.events import SOURCES, CloudEvent
from ictg_common.natslink import NatsLink
from ictg_common.outbox import OutboxRelay, emit
from ictg_intake.app import create_app
from ictg_intake.settings import IntakeSettings
from tests.support.factories import referral_body
from tests.support.platform import ROOT, as_tester, auth, eventually, serve


async def _subjects_and_ids(nats_url: str, stream: str, prefix: str, want: int, timeout: float = 10.0) -> list[str]:
    nc = await nats.connect(nats_url)
    sub = await nc.jetstream().pull_subscribe(f"{prefix}.>", stream=stream)
    got: list[str] = []

    async def collect() -> bool:
        try:
            for m in await sub.fetch(10, timeout=0.3):
                got.append(json.loads(m.data)["id"])
                await m.ack()
        except Exception:  # noqa: BLE001 - fetch timeout: nothing new
            pass
        return len(got) >= want

    await eventually(collect, timeout=timeout)
    await nc.close()
    return got


async def test_committed_events_are_published_and_rolled_back_ones_never(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    engine = create_engine(s["database_url"])
    sessions = create_sessionmaker(engine)
    link = NatsLink(s["nats_url"], stream=s["nats_stream"], subject_prefix=s["subject_prefix"],
                    credentials=IntakeSettings(**s).nats_credentials)  # fmt: skip
    link.start()
    relay = OutboxRelay(engine, link, schema="intake", database_url=s["database_url"], poll_seconds=0.2)
    relay.start()

    def event(n: int) -> Any:
        # the outbox carries any envelope: a mechanism test need not build a real referral
        return CloudEvent(
            source=SOURCES["intake"],
            type="ictg.referral.received.v1",
            subject=f"r{n}",
            time=datetime.now(UTC),
            data={"n": n},
        )

    kept, dropped = event(1), event(2)
    async with sessions() as session, session.begin():
        await emit(session, kept, schema="intake", subject_prefix=s["subject_prefix"])
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            await emit(session, dropped, schema="intake", subject_prefix=s["subject_prefix"])
            raise RuntimeError("the state change failed")
    later = event(3)
    async with sessions() as session, session.begin():
        await emit(session, later, schema="intake", subject_prefix=s["subject_prefix"])

    ids = await _subjects_and_ids(as_tester(s["nats_url"]), s["nats_stream"], s["subject_prefix"], want=2)
    assert ids == [str(kept.id), str(later.id)]
    # The relay marks what it published: a second relay finds nothing left to send.
    assert await relay.publish_pending() == 0
    await relay.stop()
    await link.close()
    await engine.dispose()


async def _ready(client: Any) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def test_referral_accepted_while_nats_is_down_is_published_when_it_returns(
    shared_settings: dict[str, Any],
) -> None:
    root = ROOT / ".run" / f"outage-{shared_settings['subject_prefix']}"
    server = EmbeddedNats(Path(root), tester=True)
    url = server.start()
    try:
        app = create_app(
            IntakeSettings(**{**shared_settings, "nats_url": url, **server.credentials("intake").settings()})
        )
        async with serve(app) as client:
            await eventually(lambda: _ready(client))
            server.stop()
            r = await client.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write"))
            assert r.status_code == 201, r.text
            server.start()  # same port, same JetStream store
            ids = await _subjects_and_ids(  # the relay's backoff (up to 5 s) and the reconnect come first
                server.as_tester(),
                shared_settings["nats_stream"],
                shared_settings["subject_prefix"],
                want=1,
                timeout=30,
            )
            assert len(ids) == 1
            nc = await nats.connect(server.as_tester())
            payload = json.loads(
                cast(
                    bytes,
                    (
                        await nc.jetstream().get_last_msg(
                            shared_settings["nats_stream"],
                            f"{shared_settings['subject_prefix']}.intake.referral.received",
                        )
                    ).data,
                )
            )
            assert payload["subject"] == r.json()["id"]
            await nc.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
