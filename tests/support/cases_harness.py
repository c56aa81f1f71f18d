"""Intake and case-api in process on real Postgres and NATS, and helpers to make cases and workers.

Imported by the test modules of tests/cases (fixtures: `stack`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import pytest
from fastapi import FastAPI

from ictg_cases.settings import CasesSettings
from ictg_common.runtime import runtime_of
from tests.support.factories import referral_body
from tests.support.platform import as_tester, auth, eventually, serve, service_apps

NW = ["north_west"]
WRITE = auth("cases:write", regions=NW, sub="guardian-1")
READ = auth("cases:read", regions=NW, sub="reader-1")
ADMIN = auth("cases:admin", "cases:write", "cases:read", regions=NW, sub="manager-1")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.isoformat()


def cases_settings(app: FastAPI) -> CasesSettings:
    """The running case API's settings, as its own class (the common runtime types them as `ServiceSettings`)."""
    settings = runtime_of(app).settings
    assert isinstance(settings, CasesSettings)
    return settings


@dataclass
class Stack:
    intake: httpx.AsyncClient
    cases: httpx.AsyncClient
    app: FastAPI
    settings: dict[str, Any]
    _sub: Any = field(default=None)

    async def referral(self, *, received_at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
        body = referral_body(**overrides)
        headers = auth("referrals:write")
        if received_at is not None:
            body["received_at"] = received_at.isoformat()
            body["identified_on"] = (received_at - timedelta(days=1)).date().isoformat()
            headers = auth("referrals:write", "referrals:import")
        r = await self.intake.post("/v1/referrals", json=body, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()

    async def case_of(self, referral_id: str) -> dict[str, Any]:
        async def found() -> Any:
            r = await self.cases.get("/v1/cases", params={"referral_id": referral_id}, headers=auth("cases:read"))
            assert r.status_code == 200, r.text
            return r.json()["items"]

        [case] = await eventually(found)
        return case

    async def case(self, *, received_at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
        referral = await self.referral(received_at=received_at, **overrides)
        return await self.case_of(referral["id"])

    async def worker(
        self, *, role: str = "direct_worker", region: str = "north_west", capacity: int = 5, name: str = "Sam Guardian"
    ) -> dict[str, Any]:
        r = await self.cases.post(
            "/v1/workers", json={"name": name, "role": role, "region": region, "capacity": capacity}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def post(self, path: str, body: dict[str, Any], *, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.cases.post(path, json=body, headers=headers or WRITE)

    async def get(self, path: str, *, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        return await self.cases.get(path, headers=headers or READ, params=params)

    async def events(self, *, want: int | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every case-api event on the stream so far (wait until at least `want` have arrived)."""
        if self._sub is None:
            nc = await nats.connect(as_tester(self.settings["nats_url"]))
            self._nc = nc
            self._sub = await nc.jetstream().pull_subscribe(
                f"{self.settings['subject_prefix']}.cases.>", stream=self.settings["nats_stream"]
            )
            self._seen: list[dict[str, Any]] = []

        async def fetch() -> Any:
            try:
                msgs = await self._sub.fetch(100, timeout=0.3)
            except Exception:  # noqa: BLE001 - nothing new yet
                msgs = []
            for m in msgs:
                await m.ack()
                self._seen.append({**json.loads(m.data), "nats_subject": m.subject})
            return want is None or len(self._seen) >= want

        await eventually(fetch, timeout=timeout)
        if want is None:
            await fetch()
        return list(self._seen)

    async def close(self) -> None:
        if self._sub is not None:
            await self._nc.close()


@contextlib.asynccontextmanager
async def open_stack(shared_settings: dict[str, Any], **case_settings: Any) -> AsyncIterator[Stack]:
    """Intake and case-api in process; the SLA watcher's own loop is off unless a test turns it on."""
    intake_app, cases_app, _ = service_apps(shared_settings, **{"sla_check_seconds": 0, **case_settings})
    async with serve(intake_app) as intake, serve(cases_app) as cases:
        s = Stack(intake=intake, cases=cases, app=cases_app, settings=shared_settings)
        try:
            yield s
        finally:
            await s.close()


@pytest.fixture(name="stack")
async def stack_fixture(shared_settings: dict[str, Any]) -> AsyncIterator[Stack]:
    async with open_stack(shared_settings) as s:
        yield s
