"""Webhook deliveries under the one access policy (`ictg_common.policy`): a council receives of its
children exactly what its API shows, an organisation that is neither the service nor a council receives
no child-level event, and a delivery queued under an older rule is projected (or withheld) when sent.
Each finding reproduced as it was found, and refused."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

from sqlalchemy import text
from test_webhooks import GUARDIAN, council, platform

from ictg_common import clock, policy
from ictg_common.db import create_engine
from tests.support.platform import auth, eventually

MANCHESTER = "E08000003"
ADMIN = auth("cases:admin", "cases:write", "cases:read", regions=["north_west"], sub="manager-1")
STAFF = auth("webhooks:manage", org_type="ictg", org_name="ICTG service", sub="ictg-ops")
NGO = auth("webhooks:manage", org_type="ngo", org_name="A Charity", regions=[], sub="dev-user")


def ago(**kw: float) -> str:
    from datetime import timedelta

    return (clock.utcnow() - timedelta(**kw)).isoformat()


async def _records(p: Any, case_id: str) -> None:
    """What staff recorded for the Manchester child in the finding: allocation, contact, assessment, advocacy."""
    r = await p.cases.post("/v1/workers", json={"name": "Sam Guardian", "role": "direct_worker",
                                                "region": "north_west", "capacity": 5}, headers=ADMIN)  # fmt: skip
    assert r.status_code == 201, r.text
    await p.write(f"/v1/cases/{case_id}/allocations", {"worker_id": r.json()["id"]})
    await p.write(f"/v1/cases/{case_id}/contacts", {"occurred_at": clock.utcnow().isoformat(), "outcome": "made",
                  "method": "face_to_face", "party": "child", "topics": ["safety"], "notes": "Secret note"})  # fmt: skip
    await p.write(f"/v1/cases/{case_id}/assessments", {"assessed_at": clock.utcnow().isoformat(), "living_situation": "family",
                  "trafficker_contact": "known", "education": "attending", "cjs_involvement": ["accused"]})  # fmt: skip
    await p.write(f"/v1/cases/{case_id}/advocacy", {"kind": "legal_advice", "area": "immigration",
                                                     "occurred_at": clock.utcnow().isoformat()})  # fmt: skip


async def test_a_council_receives_what_its_api_shows_and_no_more(shared_settings: dict[str, Any]) -> None:
    """Found: a Manchester council's receiver got `assessment.recorded` (trafficker contact, criminal justice
    involvement), `advocacy.recorded`, `case.allocated` with the guardian's id and `contact.recorded` with
    outcome and topics, all of which its API token is refused."""
    async with platform(shared_settings) as p:
        manchester = council(MANCHESTER)
        await p.subscribe(manchester, "/ok/manchester")
        await p.subscribe(STAFF, "/ok/staff")  # the service's own systems: everything, in full
        case = await p.case(MANCHESTER)
        await _records(p, case["id"])

        kinds = ["referral.received", "case.opened", "case.allocated", "contact.recorded", "assessment.recorded",
                 "advocacy.recorded"]  # fmt: skip
        everything = {f"ictg.{k}.v1" for k in kinds}

        async def staff_has_all() -> bool:
            return set(p.receiver.types("/ok/staff")) >= everything

        async def council_has_its_own() -> bool:
            shared = everything - {"ictg.assessment.recorded.v1", "ictg.advocacy.recorded.v1"}
            return set(p.receiver.types("/ok/manchester")) >= shared

        await eventually(staff_has_all, timeout=20)
        await eventually(council_has_its_own, timeout=20)
        await asyncio.sleep(1.0)  # the council's deliveries went out with the staff's: none are still to come
        got = {d.event["type"]: d.event["data"] for d in p.receiver.at("/ok/manchester")}
        assert set(got) == everything - {"ictg.assessment.recorded.v1", "ictg.advocacy.recorded.v1"}
        for event_type, data in got.items():
            assert set(data) <= policy.COUNCIL_FIELDS[event_type], (
                event_type,
                set(data) - policy.COUNCIL_FIELDS[event_type],
            )
        assert "worker_id" not in got["ictg.case.allocated.v1"]
        assert {"outcome", "topics"}.isdisjoint(got["ictg.contact.recorded.v1"])
        referral = got["ictg.referral.received.v1"]
        for hidden in ("referrer_type", "living_situation", "trafficker_contact", "exploitation", "uasc",
                       "cjs_involvement", "education", "timeliness", "possible_duplicate_of"):  # fmt: skip
            assert hidden not in referral, hidden
        assert "Secret note" not in str(got)
        staff = {d.event["type"]: d.event["data"] for d in p.receiver.at("/ok/staff")}
        assert (
            staff["ictg.case.allocated.v1"]["worker_id"] and staff["ictg.assessment.recorded.v1"]["trafficker_contact"]
        )

        # What it received is what its API shows of the same record, field for field.
        [contact] = (await p.cases.get(f"/v1/cases/{case['id']}/contacts", headers=manchester)).json()["items"]
        delivered = got["ictg.contact.recorded.v1"]
        assert delivered["contact_id"] == contact["id"]
        for field in ("method", "party"):
            assert delivered[field] == contact[field]
        [allocation] = (await p.cases.get(f"/v1/cases/{case['id']}/allocations", headers=manchester)).json()["items"]
        assert got["ictg.case.allocated.v1"]["role"] == allocation["role"]
        for refused in ("assessments", "advocacy"):
            assert (await p.cases.get(f"/v1/cases/{case['id']}/{refused}", headers=manchester)).status_code == 403

        # A council may not even ask for the service's own kinds.
        r = await p.hooks.post("/v1/webhooks/subscriptions", headers=manchester, json={
            "url": p.receiver.base + "/ok/x", "event_types": ["ictg.assessment.recorded.v1"]})  # fmt: skip
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/event_types"


async def test_no_other_organisation_receives_childrens_events(shared_settings: dict[str, Any]) -> None:
    """Found: an NGO's token (`webhooks:manage`, no codes) subscribed (201) and its receiver got 3,001 events for
    every authority, and `replay?since=` re-sent the history."""
    async with platform(shared_settings) as p:
        # A first responder (the NGO) may follow only its own referrals' status; child-level kinds, or
        # authorities, are refused; an organisation that files no referral may not subscribe at all.
        for body, pointer in (({"event_types": ["ictg.referral.received.v1"]}, "/event_types"),
                              ({"local_authority_codes": [MANCHESTER]}, "/local_authority_codes")):  # fmt: skip
            r = await p.hooks.post("/v1/webhooks/subscriptions", json={"url": p.receiver.base + "/ok/ngo", **body},
                                   headers=NGO)  # fmt: skip
            assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == pointer, r.text
        partner = auth("webhooks:manage", org_type="government", org_name="Home Office", regions=[], sub="dev-user")
        r = await p.hooks.post("/v1/webhooks/subscriptions", json={"url": p.receiver.base + "/ok/p"}, headers=partner)
        assert r.status_code == 403 and r.json()["type"].endswith("/scope-above-ceiling"), r.text  # no webhooks:manage

        # A subscription made before the rule (stored as it was then) gets nothing, live or replayed, and a
        # delivery queued for it before the rule is withheld, never sent.
        engine = create_engine(shared_settings["database_url"])
        sub_id = uuid4()
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO webhooks.subscription (id, org_type, org_name, created_by, url, event_types, "
                "local_authority_codes, description, enabled, secret, created_at, updated_at) VALUES (:id, 'ngo', "
                "'A Charity', 'dev-user', :url, '{}', '{}', '', true, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), "
                "now())"), {"id": sub_id, "url": p.receiver.base + "/ok/ngo"})  # fmt: skip
        staff = await p.subscribe(STAFF, "/ok/staff")
        case = await p.case(MANCHESTER)
        await _records(p, case["id"])

        async def staff_got_them() -> bool:
            return len(p.receiver.at("/ok/staff")) >= 6

        await eventually(staff_got_them, timeout=20)
        async with engine.begin() as conn:
            queued = (await conn.execute(text("SELECT count(*) FROM webhooks.delivery WHERE subscription_id = :s"),
                                         {"s": sub_id})).scalar()  # fmt: skip
            assert queued == 0
            first = (await conn.execute(text("SELECT id FROM webhooks.event ORDER BY received_at LIMIT 1"))).scalar()
            await conn.execute(text(
                "INSERT INTO webhooks.delivery (id, subscription_id, event_id, status, attempts, step, next_attempt_at, "
                "created_at) VALUES (gen_random_uuid(), :s, :e, 'pending', 0, 0, now(), now())"),
                {"s": sub_id, "e": first})  # fmt: skip

        async def withheld() -> bool:
            async with engine.connect() as conn:
                row = (await conn.execute(text("SELECT status, last_error FROM webhooks.delivery WHERE "
                                               "subscription_id = :s"), {"s": sub_id})).one()  # fmt: skip
            return row.status == "cancelled" and "withheld" in row.last_error

        await eventually(withheld, timeout=10)
        r = await p.hooks.post(
            f"/v1/webhooks/subscriptions/{sub_id}/replay", params={"since": ago(days=1)}, headers=NGO
        )
        assert r.status_code in (202, 403), r.text
        if r.status_code == 202:
            assert r.json()["queued"] == 0
        await asyncio.sleep(0.5)
        assert p.receiver.at("/ok/ngo") == []
        # The service's own subscription replays in full.
        r = await p.hooks.post(f"/v1/webhooks/subscriptions/{staff['id']}/replay", params={"since": ago(days=1)},
                               headers=STAFF)  # fmt: skip
        assert r.status_code == 202 and r.json()["queued"] >= 6
        await engine.dispose()
        assert GUARDIAN  # the same platform as test_webhooks


STATUS_FIELDS = {"referral_id", "org_type", "org_name", "referrer_reference", "status", "case_opened_at",
                 "allocated_at", "exited_at", "withdrawn_at"}  # fmt: skip


async def test_a_first_responder_follows_the_status_of_its_own_referrals_only(shared_settings: dict[str, Any]) -> None:
    """A police force may subscribe to `referral.status_changed`: how each referral it filed stands (ids, its
    own reference, status and dates), and nothing of another force's or of the child."""
    gmp = auth("referrals:write", "webhooks:manage", org_type="police", org_name="Greater Manchester Police",
               regions=[], sub="gmp-systems")  # fmt: skip
    kent = auth("referrals:write", "webhooks:manage", org_type="police", org_name="Kent Police", regions=[],
                sub="kent-systems")  # fmt: skip
    async with platform(shared_settings) as p:
        await p.subscribe(gmp, "/ok/gmp")
        await p.subscribe(kent, "/ok/kent", event_types=["ictg.referral.status_changed.v1"])
        case = await p.case(MANCHESTER)  # filed by Greater Manchester Police
        await _records(p, case["id"])  # allocated, and more the police may not know

        async def allocated() -> bool:
            # in either order: a subscription's deliveries are sent several at once (its window)
            return sorted(d.event["data"]["status"] for d in p.receiver.at("/ok/gmp")) == ["allocated",
                                                                                            "awaiting_allocation"]  # fmt: skip

        await eventually(allocated, timeout=20)
        for d in p.receiver.at("/ok/gmp"):
            assert d.event["type"] == "ictg.referral.status_changed.v1" and set(d.event["data"]) == STATUS_FIELDS
            assert d.event["data"]["referral_id"] == case["referral_id"]
            assert d.event["data"]["org_name"] == "Greater Manchester Police"
        await asyncio.sleep(0.5)
        assert p.receiver.at("/ok/kent") == []  # another force's referral: nothing
        r = await p.hooks.post("/v1/webhooks/subscriptions", headers=gmp,
                               json={"url": p.receiver.base + "/ok/x", "event_types": ["ictg.case.allocated.v1"]})  # fmt: skip
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/event_types"
