"""Metrics' own audit trail (`GET /v1/audit`): rebuilds, reconciliations and unperturbed figures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ictg_cases.app import create_app as create_cases
from ictg_cases.settings import CasesSettings
from ictg_common.runtime import runtime_of
from tests.support.metrics_http import app_of, metrics_app
from tests.support.platform import auth, serve

AUDITOR = auth("audit:read", sub="auditor")
ADMIN = auth("metrics:admin", sub="metrics-admin")


async def trail(client: httpx.AsyncClient, **params: Any) -> list[tuple[str, str, str, str, str | None]]:
    r = await client.get("/v1/audit", params=params, headers=AUDITOR)
    assert r.status_code == 200, r.text
    return [(e["actor"], e["action"], e["resource"], e["outcome"], e["reason"]) for e in reversed(r.json()["items"])]


async def test_admin_actions_and_unperturbed_queries_are_audited(shared_settings: dict[str, Any]) -> None:
    cases_app = create_cases(CasesSettings(**shared_settings, intake_url="http://127.0.0.1:9"))
    cases_transport = httpx.ASGITransport(app=cases_app)
    async with (
        metrics_app(shared_settings, cases_url="http://cases", cases_transport=cases_transport) as metrics,
        serve(cases_app),
    ):
        analyst = auth("metrics:read", sub="analyst")
        insider = auth("metrics:read", "metrics:read:unsuppressed", sub="insider")
        querier = auth("metrics:query", sub="querier")
        assert (await metrics.get("/v1/metrics/children", headers=querier)).status_code == 200  # dp: charged, no row
        assert (await metrics.get("/v1/metrics/children", headers=analyst)).status_code == 403  # published tables only
        assert (await metrics.get("/v1/metrics/children?disclosure=none", headers=analyst)).status_code == 403
        assert (await metrics.get("/v1/metrics/children?disclosure=perturb", headers=insider)).status_code == 200
        query = "group_by=gender&disclosure=none"
        assert (await metrics.get(f"/v1/metrics/children?{query}", headers=insider)).status_code == 200
        csv = await metrics.get("/v1/metrics/caseload?disclosure=none&format=csv", headers=insider)
        assert csv.status_code == 200
        assert (
            await metrics.get("/v1/metrics/timeliness?disclosure=none&group_by=nope", headers=insider)
        ).status_code == 422
        assert (await metrics.post("/v1/admin/rebuild?wait=true", headers=ADMIN)).status_code == 200
        assert (await metrics.get("/v1/admin/reconcile", headers=ADMIN)).status_code == 200

        assert await trail(metrics) == [
            ("analyst", "dp.read", "/v1/metrics/children", "denied", None),
            ("analyst", "unperturbed.read", "/v1/metrics/children", "denied", "disclosure=none"),
            ("insider", "unperturbed.read", "/v1/metrics/children", "ok", query),
            ("insider", "unperturbed.read", "/v1/metrics/caseload", "ok", "disclosure=none&format=csv"),
            ("metrics-admin", "rebuild.start", "/v1/admin/rebuild", "accepted", "wait=true"),
            ("metrics-admin", "reconcile.run", "/v1/admin/reconcile", "ok", None),
        ]  # the refused (422) timeliness query published nothing: no row; perturbed and dp answers none either
        assert [row[0] for row in await trail(metrics, action="unperturbed.read", outcome="ok")] == ["insider"] * 2
        assert (await metrics.get("/v1/audit", headers=insider)).status_code == 403

        for sql in ("UPDATE metrics.audit SET actor = 'someone'", "DELETE FROM metrics.audit"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with runtime_of(app_of(metrics)).engine.begin() as conn:
                    await conn.execute(text(sql))
