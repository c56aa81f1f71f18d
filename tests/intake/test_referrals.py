"""Receiving and reading referrals: derivations, the clock, idempotency, duplicates, access, audit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ictg_common import clock
from tests.support.factories import referral_body
from tests.support.platform import auth

WRITE = auth("referrals:write")
IMPORT = auth("referrals:import")


def at(iso: str) -> dict[str, Any]:
    """A historical referral received at `iso` (import scope sets the clock start)."""
    return referral_body(received_at=iso, identified_on=iso[:10])


@pytest.mark.parametrize(
    ("received_at", "due"),
    [
        ("2026-11-18T10:00:00+00:00", "2026-11-20T00:00:00+00:00"),  # Wednesday → end of Thursday
        ("2026-11-20T15:00:00+00:00", "2026-11-24T00:00:00+00:00"),  # Friday → end of Monday
        ("2026-11-21T09:00:00+00:00", "2026-11-24T00:00:00+00:00"),  # Saturday → end of Monday
        ("2025-12-24T10:00:00+00:00", "2025-12-30T00:00:00+00:00"),  # Christmas Thursday, Boxing Day Friday
        ("2026-04-02T10:00:00+01:00", "2026-04-08T00:00:00+01:00"),  # Good Friday and Easter Monday
        ("2026-07-03T22:30:00+00:00", "2026-07-07T00:00:00+01:00"),  # 23:30 BST Friday: a London Friday
    ],
)
async def test_deadlines_count_working_days_in_england_and_wales(
    intake: httpx.AsyncClient, received_at: str, due: str
) -> None:
    r = await intake.post("/v1/referrals", json=at(received_at), headers=IMPORT)
    assert r.status_code == 201, r.text
    t = r.json()["timeliness"]
    assert datetime.fromisoformat(t["allocation_due_by"]) == datetime.fromisoformat(due)
    assert datetime.fromisoformat(t["first_contact_due_by"]) == datetime.fromisoformat(due)


@pytest.mark.parametrize(
    ("identified_on", "delay", "late"), [("2026-11-20", 0, False), ("2026-11-19", 1, False), ("2026-11-18", 2, True)]
)
async def test_referral_delay_and_late_flag(
    intake: httpx.AsyncClient, identified_on: str, delay: int, late: bool
) -> None:
    body = referral_body(received_at="2026-11-20T09:00:00+00:00", identified_on=identified_on)
    t = (await intake.post("/v1/referrals", json=body, headers=IMPORT)).json()["timeliness"]
    assert (t["referral_delay_days"], t["late_referral"]) == (delay, late)


async def test_received_at_is_the_server_clock(intake: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 20, 16, 0, tzinfo=UTC))
    r = await intake.post("/v1/referrals", json=referral_body(identified_on="2026-11-20"), headers=WRITE)
    assert r.json()["received_at"] == "2026-11-20T16:00:00Z"
    assert r.json()["timeliness"]["allocation_due_by"] == "2026-11-24T00:00:00Z"


async def test_derived_attributes(intake: httpx.AsyncClient) -> None:
    body = referral_body(
        local_authority_code="W06000015", parental_responsibility_in_uk=True, child__nationality="PL",
        received_at="2026-03-03T10:00:00+00:00", identified_on="2026-03-03", child__date_of_birth="2010-03-04",
    )  # fmt: skip
    r = (await intake.post("/v1/referrals", json=body, headers=IMPORT)).json()
    assert (r["region"], r["local_authority_name"], r["pathway"]) == (
        "wales",
        "Cardiff",
        "regional_practice_coordinator",
    )
    assert (r["age_at_referral"], r["age_band"], r["nationality_group"]) == (15, "14-15", "eea")  # birthday tomorrow


async def test_same_key_same_body_replays_the_first_answer(intake: httpx.AsyncClient, stored: Any) -> None:
    headers = {**WRITE, "Idempotency-Key": "gmp-2026-000123"}
    first = await intake.post("/v1/referrals", json=referral_body(), headers=headers)
    again = await intake.post("/v1/referrals", json=referral_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert await stored.count("referral") == 1 and await stored.count("outbox") == 1


async def test_same_key_different_body_is_422_and_stores_nothing_more(intake: httpx.AsyncClient, stored: Any) -> None:
    headers = {**WRITE, "Idempotency-Key": "k-1"}
    assert (await intake.post("/v1/referrals", json=referral_body(), headers=headers)).status_code == 201
    r = await intake.post("/v1/referrals", json=referral_body(notes="changed"), headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#header/Idempotency-Key"
    assert await stored.count("referral") == 1


async def test_keys_are_per_client(intake: httpx.AsyncClient, stored: Any) -> None:
    for sub in ("police-a", "police-b"):
        r = await intake.post(
            "/v1/referrals", json=referral_body(), headers={**auth("referrals:write", sub=sub), "Idempotency-Key": "1"}
        )
        assert r.status_code == 201
    assert await stored.count("referral") == 2


async def test_concurrent_retries_of_one_key_make_one_referral_and_one_event(
    intake: httpx.AsyncClient, stored: Any
) -> None:
    headers = {**WRITE, "Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(intake.post("/v1/referrals", json=referral_body(), headers=headers) for _ in range(8))
    )
    codes = sorted(a.status_code for a in answers)
    assert set(codes) <= {201, 409} and 201 in codes
    assert len({a.json()["id"] for a in answers if a.status_code == 201}) == 1
    assert all(a.json()["title"] == "Conflict" for a in answers if a.status_code == 409)
    assert await stored.count("referral") == 1 and await stored.count("outbox") == 1


async def test_second_referral_of_the_same_child_is_linked_not_merged(intake: httpx.AsyncClient, stored: Any) -> None:
    first = (await intake.post("/v1/referrals", json=referral_body(), headers=WRITE)).json()
    # Same DOB and nationality, name written the other way round and with a typo.
    second = (
        await intake.post(
            "/v1/referrals", json=referral_body(child__given_name="Nguyen", child__family_name="Ann"), headers=WRITE
        )
    ).json()
    # Another nationality and born a week later: not the same child (another nationality alone would be,
    # when the names and the date of birth agree).
    other_child = referral_body(child__nationality="AL", child__date_of_birth="2010-03-11")
    other = (await intake.post("/v1/referrals", json=other_child, headers=WRITE)).json()
    assert second["possible_duplicate_of"] == [first["id"]] and second["id"] != first["id"]
    assert other["possible_duplicate_of"] == [] and first["possible_duplicate_of"] == []
    assert await stored.count("referral") == 3


async def test_who_may_read_a_referral(intake: httpx.AsyncClient) -> None:
    created = await intake.post("/v1/referrals", json=referral_body(), headers=WRITE)
    url = created.headers["location"]
    own = await intake.get(url, headers=auth("referrals:write"))
    service = await intake.get(url, headers=auth("referrals:read", org_type="ictg", org_name="ICTG service"))
    stranger = await intake.get(url, headers=auth("referrals:write", org_name="Kent Police"))
    assert own.status_code == service.status_code == 200 and own.json() == created.json()
    assert stranger.status_code == 404 and stranger.headers["content-type"].startswith("application/problem+json")
    assert (
        await intake.get("/v1/referrals/01a20806-0000-7000-8000-000000000000", headers=auth("referrals:read"))
    ).status_code == 404
    assert (await intake.get("/v1/referrals/not-a-uuid", headers=auth("referrals:read"))).status_code == 422


async def test_a_scope_above_the_organisations_ceiling_is_refused_whoever_issued_it(intake: httpx.AsyncClient) -> None:
    """Found: a police token with `referrals:read` read every force's referrals (Kent's child's details), and a
    council's token carrying every scope got intake's nationwide list and the audit."""
    created = await intake.post("/v1/referrals", json=referral_body(), headers=WRITE)
    url = created.headers["location"]
    police = auth("referrals:write", "referrals:read", org_type="police", org_name="Kent Police")
    council = auth("referrals:read", "audit:read", "la:read", org_type="local_authority", org_name="Council",
                   regions=[], la_codes=["E08000003"])  # fmt: skip
    ngo = auth("referrals:import", org_type="ngo", org_name="A Charity")
    for headers, path, scope in ((police, url, "referrals:read"), (police, "/v1/referrals", "referrals:read"),
                                 (council, "/v1/referrals", "audit:read, referrals:read"),
                                 (council, "/v1/audit", "audit:read, referrals:read"),
                                 (ngo, "/v1/referrals", "referrals:import")):  # fmt: skip
        r = await intake.get(path, headers=headers)
        assert r.status_code == 403 and r.json()["type"].endswith("/scope-above-ceiling"), (path, r.text)
        assert f"may not hold scope {scope}" in r.json()["detail"] and "Nguyen" not in r.text
    # Within the ceiling, the same force reads its own referral and no other's.
    assert (await intake.get(url, headers=auth("referrals:write", org_name="Kent Police"))).status_code == 404


async def test_list_pages_with_a_cursor_and_scopes_to_the_organisation(intake: httpx.AsyncClient) -> None:
    ids = []
    for n in range(5):
        body = referral_body(
            child__given_name=f"Child{n}", received_at=f"2026-01-0{n + 5}T10:00:00+00:00", identified_on="2026-01-05"
        )
        ids.append((await intake.post("/v1/referrals", json=body, headers=IMPORT)).json()["id"])
    kent = referral_body(referrer__organisation_name="Kent Police")
    kent_id = (
        await intake.post("/v1/referrals", json=kent, headers=auth("referrals:write", org_name="Kent Police"))
    ).json()["id"]

    seen, cursor = [], None
    while True:
        page = (
            await intake.get(
                "/v1/referrals",
                params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                headers=auth("referrals:read"),
            )
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [*ids, kent_id]
    own = (await intake.get("/v1/referrals", headers=auth("referrals:write", org_name="Kent Police"))).json()
    assert [item["id"] for item in own["items"]] == [kent_id]
    bad = await intake.get("/v1/referrals", params={"cursor": "!!!"}, headers=auth("referrals:read"))
    assert bad.status_code == 422


async def test_every_read_and_write_is_audited(intake: httpx.AsyncClient, stored: Any) -> None:
    created = await intake.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write", sub="dc-smith"))
    url = created.headers["location"]
    await intake.get(url, headers=auth("referrals:read", sub="ictg-rpc", org_type="ictg", org_name="ICTG service"))
    await intake.get(url, headers=auth("referrals:write", sub="nosy", org_name="Kent Police"))
    rows = [(r.actor, r.action, r.resource, r.outcome) for r in await stored.audit()]
    assert rows == [
        ("dc-smith", "referral.create", url, "ok"),
        ("ictg-rpc", "referral.read", url, "ok"),
        ("nosy", "referral.read", url, "denied"),
    ]


async def test_a_referral_is_filed_under_the_callers_own_organisation(intake: httpx.AsyncClient, stored: Any) -> None:
    kent = auth("referrals:write", org_name="Kent Police")
    wrong = await intake.post(
        "/v1/referrals", json=referral_body(), headers=kent
    )  # body names Greater Manchester Police
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["pointer"] == "/referrer/organisation_name"
    nameless = await intake.post(
        "/v1/referrals", json=referral_body(), headers=auth("referrals:write", org_type="", org_name="")
    )
    assert nameless.status_code == 403
    assert await stored.nothing()
    # Spacing and case are forgiven; what is stored is the token's own name.
    ok = await intake.post(
        "/v1/referrals", json=referral_body(referrer__organisation_name="kent  police"), headers=kent
    )
    assert ok.status_code == 201 and ok.json()["referrer"]["organisation_name"] == "Kent Police"
    assert (await intake.get(ok.headers["location"], headers=kent)).status_code == 200
    # A historical import migrates many organisations' records: it may name the referrer.
    imported = await intake.post(
        "/v1/referrals", json=referral_body(referrer__organisation_name="Dorset Police"), headers=IMPORT
    )
    assert imported.status_code == 201 and imported.json()["referrer"]["organisation_name"] == "Dorset Police"


async def test_a_first_responder_sees_duplicate_links_to_its_own_referrals_only(intake: httpx.AsyncClient) -> None:
    gmp = (await intake.post("/v1/referrals", json=referral_body(), headers=WRITE)).json()
    kent_headers = auth("referrals:write", org_name="Kent Police")
    kent_body = referral_body(referrer__organisation_name="Kent Police")
    kent = (await intake.post("/v1/referrals", json=kent_body, headers=kent_headers)).json()
    assert kent["possible_duplicate_of"] == []  # GMP's referral of the same child is not Kent's to know of
    as_service = (await intake.get(f"/v1/referrals/{kent['id']}", headers=auth("referrals:read"))).json()
    assert as_service["possible_duplicate_of"] == [gmp["id"]]


async def test_list_reads_are_audited_per_referral(intake: httpx.AsyncClient, stored: Any) -> None:
    ids = [
        (await intake.post("/v1/referrals", json=referral_body(child__given_name=n), headers=WRITE)).json()["id"]
        for n in ("A", "B")
    ]
    await intake.get("/v1/referrals", headers=auth("referrals:read", sub="analyst"))
    listed = {r.resource for r in await stored.audit() if r.action == "referral.list" and r.actor == "analyst"}
    assert listed == {f"/v1/referrals/{i}" for i in ids}


async def test_forged_cursors_and_oversized_claims_are_refused_not_500(intake: httpx.AsyncClient) -> None:
    import base64

    for raw in ("0001-01-01T00:00:00+14:00|01a20806-0000-7000-8000-000000000000", "2026-01-01T00:00:00|x", "junk"):
        cursor = base64.urlsafe_b64encode(raw.encode()).decode()
        r = await intake.get("/v1/referrals", params={"cursor": cursor}, headers=auth("referrals:read"))
        assert r.status_code == 422, (raw, r.text)
    r = await intake.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write", sub="x" * 201))
    assert r.status_code == 401


async def test_long_names_that_normalise_longer_are_stored(intake: httpx.AsyncClient) -> None:
    body = referral_body(child__given_name="a" * 100, child__family_name="\u33af" * 50)
    assert (await intake.post("/v1/referrals", json=body, headers=WRITE)).status_code == 201


async def test_dates_before_1900_are_refused(intake: httpx.AsyncClient, stored: Any) -> None:
    r = await intake.post("/v1/referrals", json=referral_body(received_at="0001-01-01T00:00:00+14:00"), headers=IMPORT)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/received_at"
    assert await stored.nothing()


async def test_the_audit_trail_is_readable_and_append_only(intake: httpx.AsyncClient, stored: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    created = await intake.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write", sub="dc-smith"))
    trail = await intake.get("/v1/audit", params={"resource": created.headers["location"]}, headers=auth("audit:read"))
    assert [(e["actor"], e["action"]) for e in trail.json()["items"]] == [("dc-smith", "referral.create")]
    assert (await intake.get("/v1/audit", headers=auth("referrals:read"))).status_code == 403
    for sql in ("UPDATE intake.audit SET actor = 'someone'", "DELETE FROM intake.audit", "TRUNCATE intake.audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with stored.engine.begin() as conn:
                await conn.execute(text(sql))
    assert len(await stored.audit()) == 1


async def test_a_date_of_birth_and_an_estimated_age_of_the_same_child_are_linked(intake: httpx.AsyncClient) -> None:
    first = (
        await intake.post("/v1/referrals", json=referral_body(child__date_of_birth="2010-03-04"), headers=WRITE)
    ).json()
    age = first["age_at_referral"]

    def estimated(years: int) -> dict[str, Any]:
        return referral_body(child__date_of_birth=None, child__estimated_age=years)

    close = (await intake.post("/v1/referrals", json=estimated(age + 1), headers=WRITE)).json()
    far = (await intake.post("/v1/referrals", json=estimated(age - 3), headers=WRITE)).json()
    later = (
        await intake.post("/v1/referrals", json=referral_body(child__date_of_birth="2010-03-04"), headers=WRITE)
    ).json()
    assert close["possible_duplicate_of"] == [first["id"]]
    assert far["possible_duplicate_of"] == []
    assert set(later["possible_duplicate_of"]) == {first["id"], close["id"]}


async def test_received_since_takes_a_day_meaning_midnight_in_london(intake: httpx.AsyncClient) -> None:
    """`received_since=2026-07-01` is from midnight in London (23:00 UTC the evening before, in summer
    time), not midnight UTC; a time with an offset works as before; neither a day that is not one nor a
    time without an offset is guessed at."""
    ids = {}
    for at in ("2026-06-30T22:30:00Z", "2026-06-30T23:30:00Z"):  # 23:30 and 00:30 in London
        body = {**referral_body(identified_on="2026-06-01"), "received_at": at}
        r = await intake.post("/v1/referrals", json=body, headers=IMPORT)
        assert r.status_code == 201, r.text
        ids[at] = r.json()["id"]
    reader = auth("referrals:read")

    async def since(value: str) -> httpx.Response:
        return await intake.get("/v1/referrals", params={"received_since": value}, headers=reader)

    assert [x["id"] for x in (await since("2026-07-01")).json()["items"]] == [ids["2026-06-30T23:30:00Z"]]
    assert len((await since("2026-06-30T22:00:00Z")).json()["items"]) == 2
    for wrong in ("2026-02-30", "2026-07-01T00:00:00", "1 July"):
        r = await since(wrong)
        assert r.status_code == 422, (wrong, r.text)
        assert r.json()["errors"][0]["pointer"] == "#query/received_since"
