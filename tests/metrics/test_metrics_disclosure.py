"""Disclosure control (suppress, round, none), totals, CSV, and problems for bad parameters."""

from __future__ import annotations

from typing import Any

import pytest
from metrics_events import Child, at
from metrics_http import feed, metrics_app

from ictg_metrics.children.disclosure import disclose_statistics

from conftest import auth

READ = auth("metrics:read")


def _kids() -> list[Child]:
    # 7 male, 3 female, 0 other: cells 7, 3 and a total of 10
    return [Child(at("2017-01-10"), attrs={"gender": "female" if i < 3 else "male"}) for i in range(10)]


async def test_suppress_round_and_none(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with metrics_app(s) as client:
        await feed(client, s, *_kids())
        r = await client.get("/v1/metrics/children", params={"group_by": "gender"}, headers=READ)
        assert r.status_code == 200 and r.json()["disclosure"] == "suppress"
        # 3 is suppressed; 7 goes too, or the total (10) minus 7 would give the 3 back
        assert r.json()["rows"] == [
            {"gender": "female", "children": None, "suppressed": True},
            {"gender": "male", "children": None, "suppressed": True},
        ]
        assert r.json()["total"] == 10
        r = await client.get("/v1/metrics/children", params={"group_by": "gender", "disclosure": "round"}, headers=READ)
        assert r.json()["rows"] == [{"gender": "female", "children": 5}, {"gender": "male", "children": 5}]
        assert r.json()["total"] == 10
        # none needs the unsuppressed scope
        r = await client.get("/v1/metrics/children", params={"group_by": "gender", "disclosure": "none"}, headers=READ)
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        # the total follows the same rule
        r = await client.get("/v1/metrics/children", params={"gender": "female"}, headers=READ)
        assert r.json()["total"] is None and r.json()["total_suppressed"] is True
        r = await client.get("/v1/metrics/children", params={"gender": "female", "disclosure": "round"}, headers=READ)
        assert r.json()["total"] == 5
        r = await client.get("/v1/metrics/children", params={"gender": "other"}, headers=READ)
        assert r.json()["total"] == 0 and "total_suppressed" not in r.json()  # zero is not disclosive


async def test_csv_writes_suppressed_cells_as_c(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with metrics_app(s) as client:
        await feed(client, s, *_kids())
        r = await client.get("/v1/metrics/children", params={"group_by": "gender", "format": "csv"}, headers=READ)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.text.splitlines() == ["gender,children", "female,c", "male,c", "total,10"]
        r = await client.get(
            "/v1/metrics/children", params={"gender": "female"}, headers={**READ, "Accept": "text/csv"}
        )
        assert r.text.splitlines() == ["children", "c"]
        r = await client.get(
            "/v1/metrics/caseload", params={"from": "2017-01", "to": "2017-02", "format": "csv"}, headers=READ
        )
        assert r.text.splitlines() == [
            "month,referrals_in,exits_out,in_service_end",
            "2017-01,10,0,10",
            "2017-02,0,0,10",
        ]
        r = await client.get("/v1/metrics/timeliness", params={"group_by": "gender", "format": "csv"}, headers=READ)
        lines = r.text.splitlines()
        assert lines[0].startswith("gender,children,referral_delay_days_count,referral_delay_days_median")
        assert lines[1].startswith("female,c,c,c,") and lines[2].startswith("male,7,7,1.0,")


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"group_by": "gender,age_band,region,pathway"}, "#query/group_by"),
        ({"group_by": "shoe_size"}, "#query/group_by"),
        ({"group_by": "gender,gender"}, "#query/group_by"),
        ({"shoe_size": "9"}, "#query/shoe_size"),
        ({"gender": "purple"}, "#query/gender"),
        ({"uasc": "yes"}, "#query/uasc"),
        ({"age_at_referral": "old"}, "#query/age_at_referral"),
        ({"as_of": "2017-02-30"}, "#query/as_of"),
        ({"as_of": "0001-01-01"}, "#query/as_of"),
        ({"referred_from": "2018-01-01", "referred_to": "2017-01-01"}, "#query/referred_from"),
        ({"disclosure": "fuzzy"}, "#query/disclosure"),
        ({"format": "xml"}, "#query/format"),
    ],
)
async def test_bad_parameters_are_422_with_a_pointer(
    shared_settings: dict[str, Any], params: dict[str, str], pointer: str
) -> None:
    async with metrics_app(shared_settings) as client:
        for path in ("/v1/metrics/children", "/v1/metrics/timeliness", "/v1/metrics/caseload"):
            r = await client.get(path, params=params, headers=READ)
            assert r.status_code == 422, (path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert pointer in [e["pointer"] for e in r.json()["errors"]], r.json()


async def test_caseload_months_are_not_filters_elsewhere(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        r = await client.get("/v1/metrics/children", params={"from": "2017-01"}, headers=READ)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#query/from"


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2017-13"},
        {"from": "17-01"},
        {"from": "2018-01", "to": "2017-01"},
        {"from": "1990-01", "to": "2100-01"},
    ],
)
async def test_bad_caseload_months_are_422(shared_settings: dict[str, Any], params: dict[str, str]) -> None:
    async with metrics_app(shared_settings) as client:
        r = await client.get("/v1/metrics/caseload", params=params, headers=READ)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] in ("#query/from", "#query/to")


def test_statistics_of_a_small_group_are_withheld_whatever_its_count_is_published_as() -> None:
    row = {"children": 7, "delay_count": 3, "delay_median": 1.5, "met": 0.5}
    statistics = [("delay_count", ["delay_median"]), ("children", ["met"])]
    # Rounded, 3 is published as 5, yet a median of three cases would still disclose them.
    assert disclose_statistics(row, ["children", "delay_count"], "round", statistics=statistics) == {
        "children": 5, "delay_count": 5, "delay_median": None, "met": 0.5,
        "suppressed": True, "suppressed_fields": ["delay_median"],
    }  # fmt: skip
    small = {**row, "children": 3}
    out = disclose_statistics(small, ["children", "delay_count"], "round", statistics=statistics)
    assert out["children"] == 5 and out["delay_median"] is None and out["met"] is None
    # Suppressed, the whole row's statistics go with its first count.
    out = disclose_statistics(small, ["children", "delay_count"], "suppress", statistics=statistics)
    assert out["children"] is None and out["delay_median"] is None and out["met"] is None
    # As counted: nothing withheld.
    assert disclose_statistics(small, ["children", "delay_count"], "none", statistics=statistics) == small


async def test_unknown_parameters_are_refused_on_every_metrics_read(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        for path, headers in [
            ("/v1/metrics/children", READ),
            ("/v1/audit", auth("audit:read")),
            ("/v1/admin/reconcile", auth("metrics:admin")),
        ]:
            r = await client.get(path, params={"shoe_size": "9"}, headers=headers)
            assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
            assert [e["pointer"] for e in r.json()["errors"]] == ["#query/shoe_size"]
            assert "'shoe_size'" in r.json()["detail"]
        assert "it takes no query parameters" in r.json()["detail"]  # reconcile takes none
        # the dimensions are the children endpoints' own filters, and named as accepted
        assert "gender" in (await client.get("/v1/metrics/children", params={"x": "1"}, headers=READ)).json()["detail"]
