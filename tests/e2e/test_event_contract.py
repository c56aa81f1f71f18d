"""The event contract against the real producers: one child's journey through intake and the case API
(in process, real Postgres and NATS) emits every event type of the registry, and each event on the
stream names its schema and validates against the checked-in JSON Schema; metrics folds them all."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import jsonschema_rs
import nats

from ictg_common import clock
from ictg_common.contracts import REGISTRY, parse_data
from ictg_common.db import plain_url
from ictg_common.runtime import runtime_of
from tests.support.factories import referral_body
from tests.support.platform import as_tester, auth, eventually, serve, service_apps

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
NW = ["north_west"]
WRITE = auth("cases:write", "cases:read", regions=NW, sub="guardian-1")
ADMIN = auth("cases:admin", "cases:write", "cases:read", regions=NW, sub="manager-1")


async def _stream(settings: dict[str, Any], want: set[str], breaches: int = 2) -> list[tuple[str, dict[str, Any]]]:
    """(NATS subject, event) of every message on the test's stream, once every type of `want` arrived and
    `breaches` SLA breaches. (A count would not do: intake's status events come more than once per
    referral, in an order the consumers' timing decides.)"""
    nc = await nats.connect(as_tester(settings["nats_url"]))
    seen: list[tuple[str, dict[str, Any]]] = []
    try:
        sub = await nc.jetstream().pull_subscribe(f"{settings['subject_prefix']}.>", stream=settings["nats_stream"])

        async def fetch() -> bool:
            try:
                msgs = await sub.fetch(100, timeout=0.3)
            except (TimeoutError, nats.errors.TimeoutError):  # nothing new yet
                msgs = []
            for m in msgs:
                await m.ack()
                seen.append((m.subject, json.loads(m.data)))
            types = [e["type"] for _, e in seen]
            return set(types) >= want and types.count("ictg.sla.breached.v1") >= breaches

        await eventually(fetch, timeout=15)
    finally:
        await nc.close()
    return seen


async def test_every_event_type_is_produced_and_matches_its_schema(shared_settings: dict[str, Any]) -> None:
    intake_app, cases_app, metrics_app = service_apps(shared_settings, sla_check_seconds=0)
    async with serve(intake_app) as intake, serve(cases_app) as cases, serve(metrics_app):
        r = await intake.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write"))
        assert r.status_code == 201, r.text
        referral_id = r.json()["id"]

        async def opened() -> Any:
            found = await cases.get("/v1/cases", params={"referral_id": referral_id}, headers=auth("cases:read"))
            return found.json()["items"]

        [case] = await eventually(opened)
        base = f"/v1/cases/{case['id']}"

        # both deadlines missed, seen by the watcher a day later
        later = clock.utcnow() + timedelta(days=30)
        assert await runtime_of(cases_app).extras.sla_watcher.check_once(now=later) == 2

        async def post(path: str, body: dict[str, Any], headers: dict[str, str] = WRITE) -> dict[str, Any]:
            r = await cases.post(f"{base}/{path}", json=body, headers=headers)
            assert r.status_code in (200, 201), (path, r.text)  # a return updates its episode: 200
            return r.json()

        def now() -> str:
            return clock.utcnow().isoformat()

        worker = await cases.post(
            "/v1/workers", json={"name": "Sam", "role": "direct_worker", "region": "north_west", "capacity": 5},
            headers=ADMIN,
        )  # fmt: skip
        assert worker.status_code == 201, worker.text
        await post("allocations", {"worker_id": worker.json()["id"]})
        await post("contacts", {"occurred_at": now(), "outcome": "made", "method": "face_to_face", "party": "child",
                                "topics": ["safety"]})  # fmt: skip
        episode = await post("missing-episodes", {"started_at": now(), "whereabouts_known": False,
                                                  "reported_to_police": True, "missing_from_care_meeting": False,
                                                  "professional_network_meeting": True})  # fmt: skip
        await post(f"missing-episodes/{episode['id']}/return", {"ended_at": now(), "return_interview_offered": True})
        await post(f"missing-episodes/{episode['id']}/return-interview",
                   {"offered_at": now(), "outcome": "accepted", "completed_at": now(), "conducted_by": "local_authority"})  # fmt: skip
        # the referrer corrects its referral, then withdraws it (after allocation: the case stays open)
        referrer = auth("referrals:write")
        etag = (await intake.get(f"/v1/referrals/{referral_id}", headers=referrer)).headers["etag"]
        r = await intake.patch(f"/v1/referrals/{referral_id}", json={"child": {"given_name": "Corrected"}},
                               headers={**referrer, "If-Match": etag})  # fmt: skip
        assert r.status_code == 200, r.text
        r = await intake.post(f"/v1/referrals/{referral_id}/withdraw", json={"reason": "made_in_error"},
                              headers={**referrer, "If-Match": r.headers["etag"]})  # fmt: skip
        assert r.status_code in (200, 201), r.text
        await post("assessments", {"assessed_at": now(), "living_situation": "foster_care", "trafficker_contact": "none",
                                   "education": "attending", "cjs_involvement": ["victim"]})  # fmt: skip
        await post("nrm-decisions", {"stage": "reasonable_grounds", "outcome": "positive", "decided_at": now()})
        await post("advocacy", {"kind": "legal_advice", "area": "immigration", "occurred_at": now()})
        await post("moves", {"moved_at": now(), "local_authority_code": "E08000012"})
        await post("pathway", {"pathway": "regional_practitioner", "changed_at": now()}, headers=ADMIN)
        await post("exit", {"exited_at": now(), "reason": "work_completed", "destination": "none"})

        # Every type intake and the case API publish (the webhooks service's own: tests/webhooks).
        produced = {t for t, m in REGISTRY.items() if m.SOURCE in ("intake", "cases")}
        events = await _stream(shared_settings, want=produced)  # and two breaches (both clocks)

        seen = set()
        validators = {t: jsonschema_rs.validator_for(json.loads((SCHEMAS / f"{t}.json").read_text())) for t in REGISTRY}
        for subject, event in events:
            model = REGISTRY[event["type"]]
            assert event["dataschema"] == model.dataschema(), event
            assert subject == f"{shared_settings['subject_prefix']}.{model.SOURCE}.{model.name()}"
            errors = [e.message for e in validators[event["type"]].iter_errors(event["data"])]
            assert not errors, (event["type"], errors)
            assert parse_data(event["type"], event["data"]) is not None
            seen.add(event["type"])
        assert seen == produced, f"never produced: {sorted(produced - seen)}"
        # every case event names the child's authority and region as they stood then: the move and
        # what follows it name the new one (Manchester -> Liverpool, both in the North West)
        after_move = {"ictg.case.moved.v1", "ictg.case.pathway_changed.v1", "ictg.case.exited.v1"}
        for _, event in events:
            if event["source"] == "/ictg/cases":
                la = "E08000012" if event["type"] in after_move else "E08000003"
                assert (event["data"]["local_authority_code"], event["data"]["region"]) == (la, "north_west"), event
        pathway = next(e for _, e in events if e["type"] == "ictg.case.pathway_changed.v1")
        assert pathway["data"]["unallocated"] is True  # the direct worker no longer fits

        # metrics parses every one of them through the same models
        conn = await asyncpg.connect(plain_url(shared_settings["database_url"]))
        try:

            async def folded() -> Any:
                n = await conn.fetchval("SELECT count(*) FROM metrics.event WHERE child_id = $1", referral_id)
                row = await conn.fetchrow(
                    "SELECT exit_reason, move_la, legal_area, missing_end_on FROM metrics.child WHERE child_id = $1",
                    referral_id,
                )
                counted = [e for _, e in events if e["type"] != "ictg.referral.status_changed.v1"]  # the referrer's
                return row if n == len(counted) and row is not None and row["exit_reason"] else None

            row = await eventually(folded, timeout=15)
        finally:
            await conn.close()
        assert row["exit_reason"] == "work_completed" and row["move_la"] == ["E08000012"]
        assert row["legal_area"] == ["immigration"] and len(row["missing_end_on"]) == 1
