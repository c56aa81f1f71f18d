"""Intake's admin routes (`ictg_intake.admin`): `GET /v1/admin/referral-ids`, what the case API reconciles against — ids and times, service only."""

from __future__ import annotations

import httpx

from tests.support.factories import referral_body
from tests.support.platform import auth

SERVICE = auth("referrals:read", sub="service:case-api")


async def test_lists_every_referral_id_oldest_first_in_pages_up_to_a_cut_off(intake: httpx.AsyncClient) -> None:
    stored = []
    for i, when in enumerate(["2025-03-01T10:00:00+00:00", "2025-01-01T10:00:00+00:00", "2025-02-01T10:00:00+00:00"]):
        body = referral_body(received_at=when, identified_on=when[:10], child__given_name=f"Child{i}")
        r = await intake.post("/v1/referrals", json=body, headers=auth("referrals:write", "referrals:import"))
        assert r.status_code == 201, r.text
        stored.append(r.json())
    oldest_first = sorted(stored, key=lambda r: r["received_at"])

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await intake.get("/v1/admin/referral-ids", params=params, headers=SERVICE)
        assert r.status_code == 200, r.text
        page = r.json()
        assert all(set(item) == {"id", "received_at"} for item in page["items"])  # no personal data
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [item["id"] for item in seen] == [r["id"] for r in oldest_first]

    r = await intake.get("/v1/admin/referral-ids", params={"received_before": "2025-02-01T10:00:00Z"}, headers=SERVICE)
    assert [item["id"] for item in r.json()["items"]] == [oldest_first[0]["id"]]


async def test_only_the_service_may_list_and_a_naive_cut_off_is_refused(intake: httpx.AsyncClient) -> None:
    # A first responder (referrals:write) must not learn other organisations' referral ids.
    r = await intake.get("/v1/admin/referral-ids", headers=auth("referrals:write"))
    assert r.status_code == 403
    assert (await intake.get("/v1/admin/referral-ids")).status_code == 401
    r = await intake.get("/v1/admin/referral-ids", params={"received_before": "2025-02-01T10:00:00"}, headers=SERVICE)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = await intake.get("/v1/admin/referral-ids", params={"cursor": "forged"}, headers=SERVICE)
    assert r.status_code == 422


async def test_unknown_query_parameters_are_refused(intake: httpx.AsyncClient) -> None:
    for path, headers in [("/v1/admin/referral-ids", SERVICE), ("/v1/referrals", auth("referrals:read"))]:
        r = await intake.get(path, params={"limit": 1, "received_after": "2025-01-01T00:00:00Z"}, headers=headers)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
        assert [e["pointer"] for e in r.json()["errors"]] == ["#query/received_after"]
        assert "it accepts " in r.json()["detail"] and "limit" in r.json()["detail"]
        assert (await intake.get(path, params={"limit": 1}, headers=headers)).status_code == 200
