"""Intake in process: a referral is stored, answered 201, and its event is published."""

from __future__ import annotations

from typing import Any

import nats

from ictg_intake.app import create_app
from ictg_intake.settings import IntakeSettings
from tests.support.factories import referral_body
from tests.support.platform import as_tester, auth, eventually, serve


async def test_referral_is_stored_answered_and_published(shared_settings: dict[str, Any]) -> None:
    app = create_app(IntakeSettings(**shared_settings))
    async with serve(app) as client:
        r = await client.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write"))
        assert r.status_code == 201, r.text
        body = r.json()
        assert r.headers["location"] == f"/v1/referrals/{body['id']}"
        assert body["region"] == "north_west" and body["pathway"] == "direct_worker"
        assert body["nationality_group"] == "non_eea"

        got = await client.get(r.headers["location"], headers=auth("referrals:read", org_name="Someone Else"))
        assert got.status_code == 200 and got.json()["child"]["given_name"] == "An"

        nc = await nats.connect(as_tester(shared_settings["nats_url"]))
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"{shared_settings['subject_prefix']}.>", stream=shared_settings["nats_stream"])

        async def first() -> Any:
            try:
                return await sub.fetch(1, timeout=0.5)
            except Exception:  # noqa: BLE001 - nothing yet
                return None

        msgs = await eventually(first)
        event = __import__("json").loads(msgs[0].data)
        assert msgs[0].subject == f"{shared_settings['subject_prefix']}.intake.referral.received"
        assert event["type"] == "ictg.referral.received.v1" and event["subject"] == body["id"]
        assert "An" not in msgs[0].data.decode() and "Nguyen" not in msgs[0].data.decode()
        await nc.close()
