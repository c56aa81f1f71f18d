"""Idempotency-Key on POST /v1/referrals through the shared mechanism (ictg_common.idempotency)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from ictg_common.auth import Actor
from ictg_common.db import plain_url
from ictg_common.devinfra import Infra
from ictg_common.migrate import upgrade
from ictg_intake.app import MIGRATIONS, create_app
from ictg_intake.settings import IntakeSettings
from tests.support.factories import referral_body
from tests.support.platform import SECRET, _admin, _with_db, auth, serve

WRITE = auth("referrals:write")
# the principal WRITE's token names (conftest's defaults): keys are stored under its key
WRITER = Actor(sub="tester", scopes=frozenset(), org_type="police", org_name="Greater Manchester Police")


async def test_a_replay_says_so_and_is_audited(intake: httpx.AsyncClient, stored: Any) -> None:
    headers = {**WRITE, "Idempotency-Key": "gmp-2026-000124"}
    first = await intake.post("/v1/referrals", json=referral_body(), headers=headers)
    again = await intake.post("/v1/referrals", json=referral_body(), headers=headers)
    assert first.status_code == again.status_code == 201 and again.text == first.text
    assert "idempotency-replayed" not in first.headers and again.headers["idempotency-replayed"] == "true"
    location = first.headers["location"]
    assert again.headers["location"] == location
    assert [(a.action, a.resource) for a in await stored.audit()] == [
        ("referral.create", location),
        ("referral.create.replay", location),
    ]


async def test_a_key_is_a_principals_not_a_shared_subs(intake: httpx.AsyncClient, stored: Any) -> None:
    """Found: the NGO re-sending the police's Idempotency-Key (the two tokens sharing `sub`) got the
    police's referral back (201, `Idempotency-Replayed: true`), the child's details with it."""
    police = {**auth("referrals:write", sub="dev-user", org_type="police", org_name="Kent Police"),
              "Idempotency-Key": "kent-2026-1"}  # fmt: skip
    ngo = {
        **auth("referrals:write", sub="dev-user", org_type="ngo", org_name="A Charity"),
        "Idempotency-Key": "kent-2026-1",
    }
    body = referral_body()
    first = await intake.post("/v1/referrals", json={**body, "referrer": {**body["referrer"], "organisation_type": "police",
                                                                         "organisation_name": "Kent Police"}},
                              headers=police)  # fmt: skip
    assert first.status_code == 201, first.text
    theirs = await intake.post("/v1/referrals", json={**body, "referrer": {**body["referrer"], "organisation_type": "ngo",
                                                                          "organisation_name": "A Charity"}},
                               headers=ngo)  # fmt: skip
    assert theirs.status_code == 201, theirs.text
    assert "idempotency-replayed" not in theirs.headers and theirs.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("key", ["", "  ", "a\x00b", "x" * 201], ids=["empty", "blank", "nul", "too-long"])
async def test_an_unusable_key_is_400_and_stores_nothing(intake: httpx.AsyncClient, stored: Any, key: str) -> None:
    r = await intake.post("/v1/referrals", json=referral_body(), headers={**WRITE, "Idempotency-Key": key})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["pointer"] == "#header/Idempotency-Key"
    assert await stored.nothing() and await stored.count("idempotency_key") == 0


@pytest.fixture
async def before_0003(infra: Infra) -> AsyncIterator[str]:
    """A database whose intake schema stops at migration 0002 (keys as intake kept them itself)."""
    name = f"ictg_t_{uuid.uuid4().hex[:10]}"
    await _admin(infra, f'CREATE DATABASE "{name}"')
    url = _with_db(infra.database_url, name)
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "0002")
    yield url
    await _admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_key_stored_before_migration_0003_still_replays(
    infra: Infra, before_0003: str, stream: tuple[str, str]
) -> None:
    body = referral_body()
    first = {"id": str(uuid.uuid4()), "notes": "as first answered"}
    location = f"/v1/referrals/{first['id']}"
    legacy_hash = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    conn = await asyncpg.connect(plain_url(before_0003))
    try:
        await conn.execute(
            "INSERT INTO intake.idempotency_key (client, key, request_hash, status_code, response, location, created_at)"
            " VALUES ($4, 'legacy', $1, 201, $2::jsonb, $3, now())",
            legacy_hash, json.dumps(first), location, WRITER.principal_key,
        )  # fmt: skip
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, MIGRATIONS, before_0003)

    settings = IntakeSettings(
        database_url=before_0003, nats_url=infra.nats_url, nats_stream=stream[0], subject_prefix=stream[1],
        auth_secret=SECRET,
    )  # fmt: skip
    async with serve(create_app(settings)) as intake:
        headers = {**WRITE, "Idempotency-Key": "legacy"}
        again = await intake.post("/v1/referrals", json=body, headers=headers)
        assert again.status_code == 201 and again.json() == first
        assert again.headers["location"] == location and again.headers["idempotency-replayed"] == "true"
        other = await intake.post("/v1/referrals", json=referral_body(notes="another"), headers=headers)
        assert other.status_code == 422
