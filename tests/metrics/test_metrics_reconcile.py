"""Reconciliation: metrics' totals by status against the case API's own list, drained or not."""

from __future__ import annotations

from typing import Any

from ictg_metrics.app import create_app as create_metrics
from ictg_metrics.settings import MetricsSettings
from tests.support.factories import referral_body
from tests.support.metrics_events import Child, at, publish
from tests.support.platform import auth, eventually, serve, service_apps

ADMIN = auth("metrics:admin")


async def test_reconcile_agrees_once_drained_and_reports_differences(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    intake_app, cases_app, metrics_app = service_apps(s)
    async with serve(intake_app) as intake, serve(cases_app), serve(metrics_app) as metrics:
        for i in range(3):
            body = referral_body(child__given_name=f"Child{i}", child__date_of_birth=f"201{i}-03-04")
            r = await intake.post("/v1/referrals", json=body, headers=auth("referrals:write"))
            assert r.status_code == 201, r.text

        async def consistent() -> Any:
            r = await metrics.get("/v1/admin/reconcile", headers=ADMIN)
            assert r.status_code == 200, r.text
            body = r.json()
            return body if body["consistent"] and body["cases_total"] == 3 else None

        report = await eventually(consistent, timeout=20)
        assert report["metrics"] == {"awaiting_allocation": 3, "allocated": 0, "exited": 0}
        assert (await metrics.get("/v1/admin/reconcile", headers=auth("metrics:read"))).status_code == 403

        # a child metrics knows of but the case API does not (e.g. a case store restored from backup)
        await publish(s, Child(at("2017-01-01")).exit(at("2017-02-01")).events)

        async def differs() -> Any:
            body = (await metrics.get("/v1/admin/reconcile", headers=ADMIN)).json()
            return body if "exited" in body["differences"] else None  # once its exit is counted too

        report = await eventually(differs)
        assert report["differences"] == {"exited": {"metrics": 1, "cases": 0}}


async def test_reconcile_when_the_case_api_is_down_is_503(shared_settings: dict[str, Any]) -> None:
    app = create_metrics(MetricsSettings(**shared_settings, cases_url="http://127.0.0.1:9"))
    async with serve(app) as metrics:
        r = await metrics.get("/v1/admin/reconcile", headers=ADMIN)
        assert r.status_code == 503 and r.headers["retry-after"]
