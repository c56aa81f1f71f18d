"""The referrer corrects and withdraws its own referral (`ictg_intake.referrals.corrections`): `If-Match`
required (428 without, 412 stale), the filing organisation only (404 for anyone else), the same validation as a
new referral (422, nothing changed), and events that carry field names, never values. What the case makes of
them: `tests/cases/test_referral_changes.py`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ictg_intake.referrals.corrections import changed_fields, merge_patch
from tests.support.factories import referral_body
from tests.support.platform import auth

POLICE = auth("referrals:write")  # Greater Manchester Police
OTHER_FORCE = auth("referrals:write", org_type="police", org_name="Kent Police")
SERVICE = auth("referrals:read")
PATCH = {"Content-Type": "application/merge-patch+json"}


async def filed(intake: httpx.AsyncClient, **overrides: Any) -> tuple[dict[str, Any], str]:
    r = await intake.post("/v1/referrals", json=referral_body(**overrides), headers=POLICE)
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == '"1"'
    return r.json(), r.headers["etag"]


async def patch(
    intake: httpx.AsyncClient, rid: str, body: Any, *, etag: str | None, headers: dict[str, str] = POLICE
) -> httpx.Response:
    extra = {"If-Match": etag} if etag is not None else {}
    return await intake.patch(f"/v1/referrals/{rid}", content=json.dumps(body), headers={**headers, **PATCH, **extra})


async def events(stored: Any, kind: str) -> list[dict[str, Any]]:
    async with stored.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT payload FROM intake.outbox ORDER BY created_at, id"))).scalars()
        return [p for p in rows if p["type"] == f"ictg.referral.{kind}.v1"]


async def test_a_correction_is_stored_rederived_and_evented_by_field_names(
    intake: httpx.AsyncClient, stored: Any
) -> None:
    referral, etag = await filed(intake)
    rid = referral["id"]
    correction = {
        "child": {"family_name": "Nguyen Van", "date_of_birth": None, "estimated_age": 15},
        "local_authority_code": "E06000001",  # Hartlepool: the North East, not the North West
        "referrer": {"reference": "GMP/2026/000124"},
        "notes": None,
    }
    r = await patch(intake, rid, correction, etag=etag)
    assert r.status_code == 200, r.text
    got = r.json()
    assert r.headers["etag"] == '"2"' and got["version"] == 2 and got["amended_at"] is not None
    assert got["child"]["family_name"] == "Nguyen Van" and got["child"]["estimated_age"] == 15
    assert got["child"]["date_of_birth"] is None and got["notes"] is None
    assert (got["local_authority_code"], got["region"]) == ("E06000001", "north_east")
    assert got["referrer"]["reference"] == "GMP/2026/000124"
    # The clock never moves.
    assert got["received_at"] == referral["received_at"] and got["timeliness"] == referral["timeliness"]
    # A read shows the same, with the new ETag.
    read = await intake.get(f"/v1/referrals/{rid}", headers=POLICE)
    assert read.headers["etag"] == '"2"' and read.json() == got

    [event] = await events(stored, "amended")
    assert event["subject"] == rid
    assert event["data"] == {
        "referral_id": rid,
        "amended_at": event["data"]["amended_at"],
        "fields": [
            "child.date_of_birth", "child.estimated_age", "child.family_name", "local_authority_code", "notes",
            "referrer.reference",
        ],
    }  # fmt: skip
    assert "Nguyen Van" not in json.dumps(event) and "GMP/2026/000124" not in json.dumps(event)
    assert ("tester", "referral.amend", f"/v1/referrals/{rid}", "ok") in await stored.audit()

    # Found by its corrected reference; a patch that changes nothing makes no new version and no event.
    r = await intake.get("/v1/referrals", params={"reference": "gmp/2026/000124"}, headers=POLICE)
    assert [i["id"] for i in r.json()["items"]] == [rid]
    r = await patch(intake, rid, {"notes": None}, etag='"2"')
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert len(await events(stored, "amended")) == 1


async def test_a_correction_reruns_the_duplicate_check(intake: httpx.AsyncClient) -> None:
    first, _ = await filed(intake, child__given_name="Minh", child__family_name="Tran")
    second, etag = await filed(intake, child__given_name="Lan", child__family_name="Pham")
    assert second["possible_duplicate_of"] == []
    r = await patch(intake, second["id"], {"child": {"given_name": "Minh", "family_name": "Tran"}}, etag=etag)
    assert r.status_code == 200, r.text
    assert r.json()["possible_duplicate_of"] == [first["id"]]
    # And the first now finds the second by its corrected name, as any new referral would.
    third, _ = await filed(intake, child__given_name="Minh", child__family_name="Tran")
    assert set(third["possible_duplicate_of"]) == {first["id"], second["id"]}


async def test_if_match_is_required_and_must_be_current(intake: httpx.AsyncClient, stored: Any) -> None:
    referral, etag = await filed(intake)
    rid = referral["id"]
    r = await patch(intake, rid, {"notes": "more"}, etag=None)
    assert r.status_code == 428, r.text
    assert r.headers["content-type"] == "application/problem+json" and "If-Match" in r.json()["detail"]
    assert (await patch(intake, rid, {"notes": "more"}, etag=etag)).status_code == 200
    r = await patch(intake, rid, {"notes": "again"}, etag=etag)  # the ETag read before the first correction
    assert r.status_code == 412, r.text
    assert r.headers["etag"] == '"2"' and r.json()["type"].endswith("/stale-etag")
    r = await intake.post(f"/v1/referrals/{rid}/withdraw", json={"reason": "made_in_error"}, headers=POLICE)
    assert r.status_code == 428
    r = await intake.post(
        f"/v1/referrals/{rid}/withdraw", json={"reason": "made_in_error"}, headers={**POLICE, "If-Match": etag}
    )
    assert r.status_code == 412
    assert (await intake.get(f"/v1/referrals/{rid}", headers=POLICE)).json()["notes"] == "more"
    assert await events(stored, "withdrawn") == []


async def test_only_the_filing_organisation_changes_its_referral(intake: httpx.AsyncClient, stored: Any) -> None:
    referral, etag = await filed(intake)
    rid = referral["id"]
    for headers in (OTHER_FORCE, auth("referrals:write", org_type="police", org_name="")):
        r = await patch(intake, rid, {"notes": "mine now"}, etag=etag, headers=headers)
        assert r.status_code == 404, r.text
        r = await intake.post(
            f"/v1/referrals/{rid}/withdraw", json={"reason": "other"}, headers={**headers, "If-Match": etag}
        )
        assert r.status_code == 404
    # The service reads every referral but corrects none (the scope is the referrer's).
    r = await patch(intake, rid, {"notes": "mine now"}, etag=etag, headers=SERVICE)
    assert r.status_code == 403
    r = await patch(intake, "01a23b2b-7cc9-7d20-bcf7-69b611599e65", {"notes": "x"}, etag=etag)
    assert r.status_code == 404
    assert (await intake.get(f"/v1/referrals/{rid}", headers=POLICE)).json()["version"] == 1
    assert ("tester", "referral.amend", f"/v1/referrals/{rid}", "denied") in await stored.audit()


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"child": {"estimated_age": 15}}, ["/child"]),  # both a date of birth and an age
        ({"child": {"date_of_birth": None}}, ["/child"]),  # neither
        ({"child": {"date_of_birth": "2001-01-01"}}, ["/child/date_of_birth"]),  # 18 or over, not disputed
        ({"child": {"date_of_birth": "2999-01-01"}}, ["/child/date_of_birth"]),  # in the future
        ({"identified_on": "2009-01-01"}, ["/identified_on"]),  # before the child was born
        ({"child": {"nationality": "Vietnamese"}}, ["/child/nationality"]),
        ({"child": {"given_name": None}}, ["/child/given_name"]),
        ({"local_authority_code": "E99999999"}, ["/local_authority_code"]),
        ({"child": {"nationality": "GB"}}, ["/circumstances/uasc"]),  # British, and still an asylum seeker
        ({"received_at": "2026-01-01T00:00:00Z"}, ["/received_at"]),
        ({"id": "01a23b2b-7cc9-7d20-bcf7-69b611599e65"}, ["/id"]),
        ({"referrer": {"organisation_name": "Kent Police"}}, ["/referrer/organisation_name"]),
        ({"missing_at_referral": True}, ["/missing_at_referral"]),
        ({"region": "london"}, ["/region"]),
        ({"shoe_size": 7}, ["/shoe_size"]),
        ({"notes": "x" * 4001}, ["/notes"]),
    ],
)
async def test_a_bad_correction_is_422_and_changes_nothing(
    intake: httpx.AsyncClient, stored: Any, body: dict[str, Any], pointers: list[str]
) -> None:
    referral, etag = await filed(intake)
    r = await patch(intake, referral["id"], body, etag=etag)
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == pointers
    after = await intake.get(f"/v1/referrals/{referral['id']}", headers=POLICE)
    assert after.headers["etag"] == '"1"' and after.json()["child"] == referral["child"]
    assert await events(stored, "amended") == []


async def test_a_body_that_is_not_an_object_is_refused(intake: httpx.AsyncClient) -> None:
    referral, etag = await filed(intake)
    bodies: list[Any] = [[], "notes", 3]
    for body in bodies:
        r = await patch(intake, referral["id"], body, etag=etag)
        assert r.status_code == 422, r.text


async def test_withdrawal_ends_corrections_and_tells_the_referrer(intake: httpx.AsyncClient, stored: Any) -> None:
    referral, etag = await filed(intake)
    rid = referral["id"]
    for bad in ({"reason": "bored"}, {"reason": "other", "detail": "x" * 501}, {"reason": "other", "extra": 1}, {}):
        r = await intake.post(f"/v1/referrals/{rid}/withdraw", json=bad, headers={**POLICE, "If-Match": etag})
        assert r.status_code == 422, (bad, r.text)
    detail = "Referred twice by our control room; An Nguyen's first referral stands."
    r = await intake.post(
        f"/v1/referrals/{rid}/withdraw",
        json={"reason": "duplicate", "detail": detail},
        headers={**POLICE, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert r.headers["etag"] == '"2"' and got["status"] == "withdrawn"
    assert got["withdrawal"]["reason"] == "duplicate" and got["withdrawal"]["detail"] == detail
    # Both the referrer and the service see it withdrawn, and a status filter finds it.
    for headers in (POLICE, SERVICE):
        assert (await intake.get(f"/v1/referrals/{rid}", headers=headers)).json()["status"] == "withdrawn"
    listed = await intake.get("/v1/referrals", params={"status": "withdrawn"}, headers=POLICE)
    assert [i["id"] for i in listed.json()["items"]] == [rid]
    listed = await intake.get("/v1/referrals", params={"status": ["received", "awaiting_allocation"]}, headers=POLICE)
    assert listed.json()["items"] == []

    [event] = await events(stored, "withdrawn")
    assert event["data"] == {"referral_id": rid, "withdrawn_at": event["data"]["withdrawn_at"], "reason": "duplicate"}
    [status] = await events(stored, "status_changed")
    assert status["data"]["status"] == "withdrawn" and status["data"]["withdrawn_at"] is not None
    assert "Nguyen" not in json.dumps(event) + json.dumps(status)
    assert ("tester", "referral.withdraw", f"/v1/referrals/{rid}", "ok") in await stored.audit()

    # Withdrawn: no second withdrawal, no correction (409, with the current ETag).
    for r in (
        await intake.post(
            f"/v1/referrals/{rid}/withdraw", json={"reason": "other"}, headers={**POLICE, "If-Match": '"2"'}
        ),
        await patch(intake, rid, {"notes": "late"}, etag='"2"'),
    ):
        assert r.status_code == 409, r.text
        assert r.json()["type"].endswith("/referral-withdrawn") and "withdrew" in r.json()["detail"]
    assert len(await events(stored, "withdrawn")) == 1


def test_merge_patch_and_changed_fields_are_rfc_7386_and_names_only() -> None:
    stored = {"a": 1, "b": {"c": 2, "d": [1, 2]}, "e": None}
    assert merge_patch(stored, {"b": {"c": None, "d": [3]}, "f": {"g": 1}}) == {"a": 1, "b": {"d": [3]}, "e": None,
                                                                                 "f": {"g": 1}}  # fmt: skip
    assert merge_patch(stored, {}) == stored
    assert changed_fields(stored, {"a": 1, "b": {"c": 3, "d": [1, 2]}, "e": "x"}) == ["b.c", "e"]
    assert changed_fields(stored, stored) == []
