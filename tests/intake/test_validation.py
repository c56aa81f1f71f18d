"""Every class of bad input: an RFC 9457 answer pointing at the field, and nothing stored or published."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.support.factories import referral_body
from tests.support.platform import auth, token

WRITE = auth("referrals:write")
TOMORROW = (date.today() + timedelta(days=2)).isoformat()


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    assert body["instance"] == "/v1/referrals"
    return body


def pointers(body: dict[str, Any]) -> set[str]:
    return {e["pointer"] for e in body.get("errors", [])}


def without(path: str) -> dict[str, Any]:
    body = referral_body()
    target = body
    keys = path.split("/")
    for k in keys[:-1]:
        target = target[k]
    del target[keys[-1]]
    return body


CASES_422 = [
    ("missing identified_on", without("identified_on"), "/identified_on"),
    ("missing referrer", without("referrer"), "/referrer"),
    ("missing gender", without("child/gender"), "/child/gender"),
    ("unknown top-level field", referral_body(colour="blue"), "/colour"),
    ("unknown nested field", referral_body(child__shoe_size=5), "/child/shoe_size"),
    ("bad organisation type", referral_body(referrer__organisation_type="army"), "/referrer/organisation_type"),
    ("bad gender code", referral_body(child__gender="M"), "/child/gender"),
    ("bad nationality", referral_body(child__nationality="XX"), "/child/nationality"),
    ("lower-case nationality", referral_body(child__nationality="vn"), "/child/nationality"),
    ("bad exploitation", referral_body(exploitation__primary="theft"), "/exploitation/primary"),
    ("bad other exploitation", referral_body(exploitation__others=["sexual", "x"]), "/exploitation/others/1"),
    ("bad living situation", referral_body(circumstances__living_situation="tent"), "/circumstances/living_situation"),
    ("bad cjs", referral_body(circumstances__cjs_involvement=["judge"]), "/circumstances/cjs_involvement/0"),
    ("bad LA code", referral_body(local_authority_code="E07000001"), "/local_authority_code"),
    ("Scottish LA code", referral_body(local_authority_code="S12000033"), "/local_authority_code"),
    ("both DOB and age", referral_body(child__estimated_age=15), "/child"),
    ("neither DOB nor age", referral_body(child__date_of_birth=None), "/child"),
    ("string for boolean", referral_body(missing_at_referral="false"), "/missing_at_referral"),
    ("string for integer", referral_body(child__date_of_birth=None, child__estimated_age="15"), "/child/estimated_age"),
    ("number for a date", referral_body(identified_on=20261120), "/identified_on"),
    ("impossible date", referral_body(identified_on="2026-02-30"), "/identified_on"),
    ("notes too long", referral_body(notes="x" * 4001), "/notes"),
    ("name too long", referral_body(child__given_name="x" * 101), "/child/given_name"),
    ("empty name", referral_body(child__given_name="  "), "/child/given_name"),
    ("NUL in text", referral_body(notes="a\u0000b"), "/notes"),
    ("bad email", referral_body(referrer__contact_email="not-an-email"), "/referrer/contact_email"),
    ("future identification", referral_body(identified_on=TOMORROW), "/identified_on"),
    ("future date of birth", referral_body(child__date_of_birth=TOMORROW), "/child/date_of_birth"),
    ("identified before birth", referral_body(identified_on="2009-01-01"), "/identified_on"),
    ("adult by date of birth", referral_body(child__date_of_birth="2000-01-01"), "/child/date_of_birth"),
    ("adult by estimate", referral_body(child__date_of_birth=None, child__estimated_age=19), "/child/estimated_age"),
    ("age out of range", referral_body(child__date_of_birth=None, child__estimated_age=-1), "/child/estimated_age"),
    ("body not an object", ["a list"], "/"),
]


@pytest.mark.parametrize(("case", "body", "pointer"), CASES_422, ids=[c[0] for c in CASES_422])
async def test_invalid_referral_is_refused_with_a_pointer_and_stores_nothing(
    intake: httpx.AsyncClient, stored: Any, case: str, body: Any, pointer: str
) -> None:
    r = await intake.post("/v1/referrals", json=body, headers=WRITE)
    assert pointer in pointers(problem(r, 422))
    assert await stored.nothing()


async def test_age_disputed_admits_an_adult_age(intake: httpx.AsyncClient) -> None:
    body = referral_body(child__date_of_birth=None, child__estimated_age=19, child__age_disputed=True)
    r = await intake.post("/v1/referrals", json=body, headers=WRITE)
    assert r.status_code == 201, r.text
    assert r.json()["age_band"] == "18+"


async def test_malformed_json_is_400(intake: httpx.AsyncClient, stored: Any) -> None:
    r = await intake.post(
        "/v1/referrals", content=b'{"identified_on": ', headers={**WRITE, "Content-Type": "application/json"}
    )
    assert problem(r, 400)["title"] == "Malformed JSON"
    assert await stored.nothing()


def repeating(body: dict[str, Any], path: list[str], key: str, value: Any) -> bytes:
    """`body` as JSON with `key` a second time in the object at `path` (json.dumps cannot write that)."""
    target = body
    for k in path:
        target = target[k]
    target["__again__"] = value
    return json.dumps(body).replace('"__again__"', json.dumps(key)).encode()


async def test_a_repeated_key_is_400_naming_it(intake: httpx.AsyncClient, stored: Any) -> None:
    # Last-wins parsing would file a referral other than the one a first-wins reader checked.
    headers = {**WRITE, "Content-Type": "application/json"}
    r = await intake.post(
        "/v1/referrals", content=repeating(referral_body(), ["child"], "gender", "male"), headers=headers
    )
    body = problem(r, 400)
    assert body["type"].endswith("/duplicate-key") and '"gender"' in body["detail"]
    assert body["errors"] == [{"pointer": "/child", "detail": 'duplicate key "gender"', "code": "duplicate_key"}]
    top = await intake.post("/v1/referrals", content=repeating(referral_body(), [], "identified_on", "2020-01-01"),
                            headers=headers)  # fmt: skip
    assert problem(top, 400)["errors"][0]["pointer"] == ""
    assert await stored.nothing()


async def test_wrong_content_type_is_415(intake: httpx.AsyncClient, stored: Any) -> None:
    r = await intake.post(
        "/v1/referrals",
        content=b"identified_on=2026-11-20",
        headers={**WRITE, "Content-Type": "application/x-www-form-urlencoded"},
    )
    problem(r, 415)
    assert await stored.nothing()


async def test_body_over_64_kib_is_413(intake: httpx.AsyncClient, stored: Any) -> None:
    r = await intake.post("/v1/referrals", json=referral_body(notes="x" * 70_000), headers=WRITE)
    problem(r, 413)

    async def chunks() -> Any:  # no Content-Length: the limit still holds
        for _ in range(80):
            yield b"x" * 1024

    r = await intake.post("/v1/referrals", content=chunks(), headers={**WRITE, "Content-Type": "application/json"})
    problem(r, 413)
    assert await stored.nothing()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        ({"Authorization": "Bearer not.a.jwt"}, 401),
        ({"Authorization": f"Bearer {token('referrals:write', ttl=-10)}"}, 401),
        ({"Authorization": f"Bearer {token('referrals:write', aud='other')}"}, 401),
        ({"Authorization": f"Bearer {token('referrals:write', secret='another-secret-0123456789abcdef0123')}"}, 401),
        ({"Authorization": f"Bearer {token('cases:read')}"}, 403),
    ],
    ids=["no token", "basic auth", "garbage", "expired", "wrong audience", "wrong key", "missing scope"],
)
async def test_auth_failures_store_nothing(
    intake: httpx.AsyncClient, stored: Any, headers: dict[str, str], status: int
) -> None:
    r = await intake.post("/v1/referrals", json=referral_body(), headers=headers)
    problem(r, status)
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert await stored.nothing()


async def test_received_at_needs_the_import_scope(intake: httpx.AsyncClient, stored: Any) -> None:
    body = referral_body(received_at="2025-01-06T09:00:00+00:00", identified_on="2025-01-03")
    problem(await intake.post("/v1/referrals", json=body, headers=WRITE), 403)
    assert await stored.nothing()
    [refused] = await stored.audit()  # an attempt to backdate a referral is kept, though refused
    assert (refused.action, refused.resource, refused.outcome) == ("referral.create", "/v1/referrals", "denied")
    r = await intake.post("/v1/referrals", json=body, headers=auth("referrals:import"))
    assert r.status_code == 201, r.text
    assert r.json()["received_at"].startswith("2025-01-06T09:00:00")
    assert r.json()["timeliness"]["referral_delay_days"] == 3


async def test_import_received_at_must_not_be_in_the_future(intake: httpx.AsyncClient, stored: Any) -> None:
    body = referral_body(received_at=f"{TOMORROW}T09:00:00+00:00")
    r = await intake.post("/v1/referrals", json=body, headers=auth("referrals:import"))
    assert "/received_at" in pointers(problem(r, 422))
    assert await stored.nothing()


async def test_a_runaway_client_is_slowed_with_429(shared_settings: dict[str, Any]) -> None:
    from ictg_intake.app import create_app
    from ictg_intake.settings import IntakeSettings
    from tests.support.platform import serve

    async with serve(create_app(IntakeSettings(**shared_settings, rate_limit_per_minute=3))) as client:
        answers = [await client.get("/v1/referrals", headers=auth("referrals:read", sub="script")) for _ in range(4)]
        other = await client.get("/v1/referrals", headers=auth("referrals:read", sub="someone-else"))
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1 and answers[-1].json()["status"] == 429
    assert other.status_code == 200


async def test_a_bucket_is_a_principals_not_a_shared_subs(shared_settings: dict[str, Any]) -> None:
    """Found: with two organisations' tokens sharing `sub`, the NGO's requests were throttled by the
    police's bucket (14 of 20 got 429)."""
    from ictg_intake.app import create_app
    from ictg_intake.settings import IntakeSettings
    from tests.support.platform import serve

    police = auth("referrals:write", sub="dev-user", org_type="police", org_name="Kent Police")
    ngo = auth("referrals:write", sub="dev-user", org_type="ngo", org_name="A Charity")
    async with serve(create_app(IntakeSettings(**shared_settings, rate_limit_per_minute=3))) as client:
        spent = [(await client.get("/v1/referrals", headers=police)).status_code for _ in range(4)]
        theirs = [(await client.get("/v1/referrals", headers=ngo)).status_code for _ in range(3)]
    assert spent == [200, 200, 200, 429] and theirs == [200, 200, 200]
