"""The thin path with all three apps in one process: referral → case → metrics count."""

from __future__ import annotations

from typing import Any

from tests.support.factories import referral_body
from tests.support.platform import auth, eventually, serve, service_apps


async def test_referral_becomes_case_and_is_counted(shared_settings: dict[str, Any]) -> None:
    intake_app, cases_app, metrics_app = service_apps(shared_settings)
    async with serve(intake_app) as intake, serve(cases_app) as cases, serve(metrics_app) as metrics:
        ids = []
        for gender, nationality in [("male", "VN"), ("female", "GB"), ("female", "AL")]:
            body = referral_body(
                child__gender=gender, child__nationality=nationality, child__given_name=f"C{gender}{nationality}"
            )
            r = await intake.post("/v1/referrals", json=body, headers=auth("referrals:write"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])

        async def case_of(referral_id: str) -> Any:
            r = await cases.get("/v1/cases", params={"referral_id": referral_id}, headers=auth("cases:read"))
            assert r.status_code == 200, r.text
            return r.json()["items"]

        for rid in ids:
            [case] = await eventually(lambda rid=rid: case_of(rid))
            assert case["status"] == "awaiting_allocation" and case["region"] == "north_west"
            assert case["personal"]["child"]["nationality"] in {"VN", "GB", "AL"}  # fetched by claim check

        async def counted() -> Any:
            r = await metrics.get(
                "/v1/metrics/children", params={"group_by": "gender,nationality_group", "disclosure": "none"},
                headers=auth("metrics:read", "metrics:read:unsuppressed"),
            )  # fmt: skip
            assert r.status_code == 200, r.text
            body = r.json()
            return body if body["total"] == 3 and all(row.get("children") for row in body["rows"]) else None

        body = await eventually(counted)
        assert body["rows"] == [  # in the dictionary's order: UK before outside the EEA
            {"gender": "female", "nationality_group": "uk", "children": 1},
            {"gender": "female", "nationality_group": "non_eea", "children": 1},
            {"gender": "male", "nationality_group": "non_eea", "children": 1},
        ]
        perturbed = await metrics.get("/v1/metrics/children", params={"disclosure": "perturb"},
                                      headers=auth("metrics:read:unsuppressed"))  # fmt: skip
        assert perturbed.json()["total"] is None and perturbed.json()["total_withheld"] is True  # 3 is under 10
        # a token with metrics:read alone reads the published tables, and asks no free question
        assert (await metrics.get("/v1/metrics/children", headers=auth("metrics:read"))).status_code == 403
