"""Contacts (`ictg_cases.contacts`) through the HTTP API: stored with its event, its bad bodies refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ictg_common import clock
from tests.support.cases_harness import WRITE, Stack, iso, stack_fixture  # noqa: F401


def ago(**kw: float) -> str:
    return iso(clock.utcnow() - timedelta(**kw))


CONTACT = {"outcome": "made", "method": "face_to_face", "party": "child", "topics": ["safety", "nrm"]}


async def past_case(stack: Stack, days: int = 30, **kw: Any) -> dict[str, Any]:
    return await stack.case(received_at=clock.utcnow() - timedelta(days=days), **kw)


async def test_contact_is_stored_with_location_etag_and_event(stack: Stack) -> None:
    case = await past_case(stack)
    r = await stack.post(
        f"/v1/cases/{case['id']}/contacts", {**CONTACT, "occurred_at": ago(days=2), "notes": "Met at foster home"}
    )
    assert r.status_code == 201, r.text
    contact = r.json()
    assert r.headers["location"] == f"/v1/cases/{case['id']}/contacts/{contact['id']}" and r.headers["etag"] == '"2"'
    assert contact["topics"] == ["safety", "nrm"] and contact["notes"] == "Met at foster home"
    assert (await stack.get(f"/v1/cases/{case['id']}/contacts")).json()["items"] == [contact]
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["first_contact_at"] == contact["occurred_at"]
    [event] = [e for e in await stack.events(want=2) if e["type"] == "ictg.contact.recorded.v1"]
    assert datetime.fromisoformat(event["time"]) == datetime.fromisoformat(contact["occurred_at"])
    assert event["data"] == {
        "case_id": case["id"], "referral_id": case["referral_id"], "contact_id": contact["id"],
        "occurred_at": event["data"]["occurred_at"], "outcome": "made", "method": "face_to_face", "party": "child",
        "topics": ["safety", "nrm"], "local_authority_code": "E08000003", "region": "north_west",
        "responsible_local_authority_code": "E08000003",
    }  # fmt: skip
    assert "Met at foster home" not in str(event)


async def test_bad_codes_and_unknown_fields_are_422_with_pointers(stack: Stack) -> None:
    case = await past_case(stack)
    r = await stack.post(
        f"/v1/cases/{case['id']}/contacts",
        {**CONTACT, "occurred_at": ago(days=1), "party": "uncle", "topics": ["x"], "mood": 1},
    )
    assert r.status_code == 422
    assert {e["pointer"] for e in r.json()["errors"]} == {"/party", "/topics/0", "/mood"}
    malformed = await stack.cases.post(
        f"/v1/cases/{case['id']}/contacts", content=b"{nope", headers={**WRITE, "content-type": "application/json"}
    )
    assert malformed.status_code == 400
    missing = await stack.post(f"/v1/cases/{case['id']}/exit", {"exited_at": ago(hours=1)})
    assert missing.status_code == 422 and {e["pointer"] for e in missing.json()["errors"]} == {
        "/reason",
        "/destination",
    }
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["status"] == "awaiting_allocation"
    nocase = await stack.post(
        "/v1/cases/0190f000-0000-7000-8000-000000000000/contacts", {**CONTACT, "occurred_at": ago(days=1)}
    )
    assert nocase.status_code == 404
    assert (
        await stack.post("/v1/cases/not-a-uuid/contacts", {**CONTACT, "occurred_at": ago(days=1)})
    ).status_code == 422
