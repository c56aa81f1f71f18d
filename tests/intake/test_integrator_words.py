"""What a first responder's developer reads (issue 14): messages that say what would be right, the
code lists and local authorities to look codes up, doubtful input made consistent or refused, and a
retry that says it is one."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.factories import referral_body
from tests.support.platform import auth

WRITE = auth("referrals:write")


async def _refused(intake: httpx.AsyncClient, body: Any, *, status: int = 422, **kw: Any) -> dict[str, Any]:
    r = await intake.post("/v1/referrals", headers={**WRITE, **kw.pop("headers", {})}, **({"json": body} | kw))
    assert r.status_code == status, r.text
    return r.json()


def _detail(problem: dict[str, Any], pointer: str) -> str:
    [detail] = [e["detail"] for e in problem["errors"] if e["pointer"] == pointer]
    return detail


async def test_bad_inputs_say_what_would_be_right(intake: httpx.AsyncClient) -> None:
    p = await _refused(intake, referral_body(identified_on="20/11/2026"))
    assert _detail(p, "/identified_on") == "must be a date as YYYY-MM-DD, e.g. 2026-11-20 (got '20/11/2026')"

    p = await _refused(intake, referral_body(child__nationality="Vietnamese"))
    detail = _detail(p, "/child/nationality")
    assert "ISO 3166-1 alpha-2" in detail and "VN" in detail and "characters" not in detail

    p = await _refused(intake, referral_body(referrer__contact_email="jane at police"))
    assert _detail(p, "/referrer/contact_email") == "must be an e-mail address, e.g. j.smith@example.police.uk"

    p = await _refused(intake, referral_body(local_authority_code="Manchester"))
    assert "Value error" not in _detail(p, "/local_authority_code")
    assert "local authority code" in _detail(p, "/local_authority_code")

    p = await _refused(intake, referral_body(child__date_of_birth=None, child__estimated_age=None))
    assert not any(e["detail"].startswith("Value error") for e in p["errors"])

    malformed = b'{\n  "identified_on": "2026-11-20",\n  "referrer": {,\n}'
    p = await _refused(intake, None, status=400, content=malformed, headers={"Content-Type": "application/json"})
    assert "line 3, column 16" in p["detail"], p["detail"]
    assert p["errors"][0]["pointer"] == "/"

    r = await intake.get("/v1/referrals", headers={"Authorization": b"Bearer \xb7garbage\xb7"})  # type: ignore[arg-type]  # raw bytes on purpose
    assert r.status_code == 401 and "utf-8" not in r.text and "codec" not in r.text
    assert "not a JWT" in r.json()["detail"], r.text


async def test_doubtful_input_is_made_consistent_or_refused(intake: httpx.AsyncClient) -> None:
    r = await intake.post(
        "/v1/referrals",
        json=referral_body(
            exploitation__primary="sexual", exploitation__others=["sexual", "labour", "sexual", "labour"]
        ),
        headers=WRITE,
    )
    assert r.status_code == 201, r.text
    assert r.json()["exploitation"]["others"] == ["labour"]
    stored = await intake.get(r.headers["Location"], headers=auth("referrals:read"))
    assert stored.json()["exploitation"]["others"] == ["labour"]

    p = await _refused(intake, referral_body(child__nationality="GB", circumstances__uasc=True))
    assert "British national" in _detail(p, "/circumstances/uasc")
    assert (await intake.post("/v1/referrals", json=referral_body(child__nationality="GB", circumstances__uasc=False),
                              headers=WRITE)).status_code == 201  # fmt: skip


async def test_a_retry_says_it_is_one(intake: httpx.AsyncClient) -> None:
    headers = {**WRITE, "Idempotency-Key": "retry-words-1"}
    first = await intake.post("/v1/referrals", json=referral_body(), headers=headers)
    again = await intake.post("/v1/referrals", json=referral_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert "idempotency-replayed" not in first.headers
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.headers["Location"] == first.headers["Location"]


async def test_codes_and_local_authorities_can_be_looked_up(intake: httpx.AsyncClient) -> None:
    r = await intake.get("/v1/reference/local-authorities", params={"q": "manc"}, headers=WRITE)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [
        {
            "code": "E08000003",
            "name": "Manchester",
            "region": "north_west",
            "region_name": "North West",
            "districts": [],
        }
    ]
    every = (await intake.get("/v1/reference/local-authorities", headers=WRITE)).json()["items"]
    assert len(every) > 150 and [la["name"] for la in every] == sorted(la["name"] for la in every)
    assert {la["code"][0] for la in every} == {"E", "W"}
    assert (await intake.get("/v1/reference/local-authorities")).status_code == 401

    lists = {c["name"]: c for c in (await intake.get("/v1/reference/codes", headers=WRITE)).json()["items"]}
    for name in ("organisation_type", "gender", "nationality", "exploitation_type", "living_situation",
                 "trafficker_contact", "education", "cjs_involvement", "exit_reason", "region", "referral_status"):  # fmt: skip
        assert lists[name]["codes"], name
    nationality = {c["code"]: c["label"] for c in lists["nationality"]["codes"]}
    assert nationality["VN"] == "Viet Nam" and nationality["stateless"] == "Stateless"
    # Every code the referral body takes is in its list: what the API accepts is what the list says.
    assert {c["code"] for c in lists["exploitation_type"]["codes"]} >= {"sexual", "criminal", "labour"}
    assert {c["code"] for c in lists["organisation_type"]["codes"]} == {
        "police", "local_authority", "border_force", "uk_visas_immigration", "immigration_enforcement",
        "national_crime_agency", "gangmasters_labour_abuse_authority", "health", "ngo", "other",
    }  # fmt: skip


async def test_the_service_fetches_a_batch_of_referrals_by_id(intake: httpx.AsyncClient) -> None:
    """What the case API's claim check asks: several referrals in one request, only those."""
    ids = []
    for name in ("Ana", "Bora", "Chi"):
        r = await intake.post("/v1/referrals", json=referral_body(child__given_name=name), headers=WRITE)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    service = auth("referrals:read")
    r = await intake.get("/v1/referrals", params={"id": [ids[0], ids[2]], "limit": 2}, headers=service)
    assert r.status_code == 200, r.text
    assert sorted(i["id"] for i in r.json()["items"]) == sorted([ids[0], ids[2]])
    assert r.json()["items"][0]["child"]["given_name"] in {"Ana", "Chi"}  # the personal details it needs
    too_many = [ids[0]] * 101
    r = await intake.get("/v1/referrals", params={"id": too_many}, headers=service)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"].startswith("#query/id"), r.text
    # A first responder asking for another force's referral by id finds nothing.
    other = auth("referrals:write", org_type="police", org_name="Kent Police")
    r = await intake.get("/v1/referrals", params={"id": ids}, headers=other)
    assert r.status_code == 200 and r.json()["items"] == []
