"""Disclosure control (perturb and none with their scope, dp by default: test_privacy.py), sparsity rules, tidy CSV,
and problems for bad parameters."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pandas
import pytest

from ictg_common import clock
from ictg_metrics.disclosure.cellkey import DEFAULT_PTABLE, Ptable
from ictg_metrics.disclosure.discloser import Discloser
from tests.support.metrics_events import Child, at
from tests.support.metrics_http import ANALYST, feed, metrics_app, published
from tests.support.platform import auth

READ = auth("metrics:query", "metrics:read:unsuppressed")  # free queries, and a perturbed preview


def _kids() -> list[Child]:
    # 23 female, 7 male, 15 other: one cell under 10, the others published whatever their keys (the default
    # ptable moves a count by at most 5), so that a table by gender is never sparse
    genders = ["female"] * 23 + ["male"] * 7 + ["other"] * 15
    return [Child(at("2017-01-10"), attrs={"gender": g}) for g in genders]


def _ids(kids: list[Child], gender: str | None = None) -> list[str]:
    return [k.referral_id for k in kids if gender is None or k.attrs["gender"] == gender]


async def test_perturbed_on_request_and_none_needs_its_scope(shared_settings: dict[str, Any]) -> None:
    s, kids = shared_settings, _kids()
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        r = await client.get("/v1/metrics/children", params={"group_by": "gender", "disclosure": "perturb"},
                             headers=READ)  # fmt: skip
        body = r.json()
        assert r.status_code == 200 and body["disclosure"] == "perturb"
        # the default ptable, and what it is: every answer states it
        assert body["ptable"] == {"name": "ictg_noise_d5", "threshold": 10, "max_noise": 5, "variance": 3.78125}
        assert "need not add up" in body["note"] and "max_noise" in body["note"] and "rounded" not in body["note"]
        assert body["rows"] == [
            {"gender": "female", "children": published(_ids(kids, "female"))},
            {"gender": "male", "children": None, "withheld": True, "withheld_fields": ["children"]},
            {"gender": "other", "children": published(_ids(kids, "other"))},
            # no child of unknown gender: withheld like a small cell, or 0 and 1-9 would tell apart
            {"gender": "unknown", "children": None, "withheld": True, "withheld_fields": ["children"]},
        ]
        assert body["total"] == published(_ids(kids)) and abs(body["total"] - 45) <= 5
        # none needs the unsuppressed scope, and gives the true counts
        r = await client.get("/v1/metrics/children", params={"group_by": "gender", "disclosure": "none"},
                             headers=auth("metrics:query"))  # fmt: skip
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        r = await client.get("/v1/metrics/children", params={"group_by": "gender", "disclosure": "none"},
                             headers=ANALYST)  # fmt: skip
        assert [row["children"] for row in r.json()["rows"]] == [23, 7, 15] and r.json()["total"] == 45
        assert "ptable" not in r.json() and r.headers["ICTG-Disclosure"] == "none"
        # local authorities and regions carry their names beside their codes, in JSON and CSV
        r = await client.get("/v1/metrics/children", params={"group_by": "local_authority,region", "disclosure": "none"},
                             headers=ANALYST)  # fmt: skip
        assert r.json()["rows"] == [{"local_authority": "E08000003", "local_authority_name": "Manchester",
                                     "region": "north_west", "region_name": "North West", "children": 45}]  # fmt: skip
        r = await client.get("/v1/metrics/children", params={"group_by": "region", "format": "csv", "region":
                                                              "north_west", "disclosure": "perturb"}, headers=READ)  # fmt: skip
        lines = r.text.splitlines()
        assert lines == ["region,region_name,children", f"north_west,North West,{published(_ids(kids))}"]
        # a total under 10 is withheld too; so is an empty one (0 + 0 is under 10, as ONS's package has it)
        for gender in ("male", "unknown"):
            r = await client.get(
                "/v1/metrics/children", params={"gender": gender, "disclosure": "perturb"}, headers=READ
            )
            assert r.json()["total"] is None and r.json()["total_withheld"] is True, gender


async def test_csv_is_tidy_and_says_what_it_holds(shared_settings: dict[str, Any]) -> None:
    s, kids = shared_settings, _kids()
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        params = {"group_by": "gender", "referred_from": "2017-01-01", "as_of": "2017-06-30", "format": "csv",
                  "disclosure": "perturb"}  # fmt: skip
        r = await client.get("/v1/metrics/children", params=params, headers=READ)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        female, other = published(_ids(kids, "female")), published(_ids(kids, "other"))
        assert r.text.splitlines() == ["gender,children", f"female,{female}", "male,c", f"other,{other}", "unknown,c"]
        assert r.headers["ICTG-Disclosure"] == "perturb" and r.headers["ICTG-Ptable"] == DEFAULT_PTABLE.name
        assert r.headers["ICTG-As-Of"] == "2017-06-30" and r.headers["ICTG-Filters"] == "referred_from=2017-01-01"
        assert r.headers["Content-Disposition"] == (
            'attachment; filename="ictg-children_by-gender_referred_from-2017-01-01_as-of-2017-06-30_'
            'perturb-ictg_noise_d5.csv"'
        )
        frame = pandas.read_csv(io.StringIO(r.text), na_values=["c"])
        assert list(frame.columns) == ["gender", "children"] and frame["children"].isna().tolist() == [
            False,
            True,
            False,
            True,
        ]
        # the totals apart, with the same URL and totals=only
        r = await client.get("/v1/metrics/children", params={**params, "totals": "only"}, headers=READ)
        assert r.text.splitlines() == ["children", str(published(_ids(kids)))]
        # zeros are 0 (true counts, a month without referrals)
        r = await client.get(
            "/v1/metrics/caseload",
            params={"from": "2017-01", "to": "2017-02", "format": "csv", "disclosure": "none"}, headers=ANALYST,
        )  # fmt: skip
        assert r.text.splitlines() == [
            "month,referrals_in,exits_out,in_service_end",
            "2017-01,45,0,45",
            "2017-02,0,0,45",
        ]
        assert "unperturbed" in r.headers["Content-Disposition"] and "ICTG-Ptable" not in r.headers
        r = await client.get("/v1/metrics/timeliness", params={"group_by": "gender", "format": "csv",
                                                                "disclosure": "perturb"}, headers=READ)  # fmt: skip
        lines = r.text.splitlines()
        assert lines[0].startswith("gender,children,referral_delay_days_count,referral_delay_days_median")
        assert "referral_delay_working_days_median" in lines[0] and "days_to_first_contact_count" in lines[0]
        assert lines[0].endswith("met_referral_deadline,met_allocation_deadline,met_first_contact_deadline")
        assert lines[2].startswith("male,c,c,c,c,c,")  # 7 children: counts and statistics withheld


async def test_sparse_or_over_dimensioned_queries_are_refused_with_the_reason(
    shared_settings: dict[str, Any],
) -> None:
    s = shared_settings
    # 30 British children, and 2-3 of each of six other nationalities: a table by nationality is mostly holes
    nationalities = ["GB"] * 30 + [n for n in ("VN", "AL", "ER", "SD", "IR", "AF") for _ in range(3)]
    kids = [Child(at("2017-03-10"), attrs={"nationality": n, "nationality_group": "uk" if n == "GB" else "non_eea"})
            for n in nationalities]  # fmt: skip
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        for path in ("/v1/metrics/children", "/v1/metrics/timeliness"):
            r = await client.get(path, params={"group_by": "nationality", "disclosure": "perturb"}, headers=READ)
            assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
            assert "more than half of its cells would be withheld" in r.json()["errors"][0]["detail"]
        # a coarser grouping of the same children is fine
        r = await client.get("/v1/metrics/children", params={"group_by": "nationality_group", "disclosure": "perturb"},
                             headers=READ)  # fmt: skip
        assert r.status_code == 200, r.text
        five = {"group_by": "gender,age_band,uasc", "nationality_group": "uk", "county_lines": "false",
                "disclosure": "perturb"}  # fmt: skip
        for path in ("/v1/metrics/children", "/v1/metrics/timeliness", "/v1/metrics/caseload"):
            r = await client.get(path, params=five, headers=READ)
            assert r.status_code == 422, (path, r.text)
            assert (
                "combines 5 dimensions across group_by and filters; with disclosure=perturb at most 4"
                in (r.json()["errors"][0]["detail"])
            )
        # true counts are for those allowed to see them: no sparsity rule
        r = await client.get("/v1/metrics/children", params={"group_by": "nationality", "disclosure": "none"},
                             headers=ANALYST)  # fmt: skip
        assert r.status_code == 200 and r.json()["total"] == 48


async def test_perturbed_figures_cover_whole_months_and_list_every_cell(shared_settings: dict[str, Any]) -> None:
    """Periods a day apart would differ by that day's children (rounded counts crossing a boundary
    between them would place single children): perturbed, periods are whole months. And every cell of
    a table is listed, empty ones withheld like small ones, open-ended dimensions included."""
    s, kids = shared_settings, _kids()
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        for params, pointer in (({"referred_from": "2017-01-02"}, "#query/referred_from"),
                                ({"referred_to": "2017-01-13"}, "#query/referred_to"),
                                ({"as_of": "2017-01-13"}, "#query/as_of")):  # fmt: skip
            r = await client.get("/v1/metrics/children", params={**params, "disclosure": "perturb"}, headers=READ)
            assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == pointer, r.text
            assert "perturbed figures cover whole months" in r.json()["errors"][0]["detail"]
            # true counts (their own scope) take any day
            r = await client.get("/v1/metrics/children", params={**params, "disclosure": "none"}, headers=ANALYST)
            assert r.status_code == 200, r.text
        r = await client.get("/v1/metrics/children", params={"disclosure": "perturb"}, headers=READ)
        last_month_end = clock.london_date(clock.utcnow()).replace(day=1) - timedelta(days=1)
        assert r.json()["as_of"] == last_month_end.isoformat()  # the last complete month by default
        # an open-ended dimension is listed over the period: the empty quarter is withheld, not absent
        r = await client.get("/v1/metrics/children", headers=READ, params={"disclosure": "perturb",
            "group_by": "referral_quarter", "referred_from": "2017-01-01", "referred_to": "2017-06-30"})  # fmt: skip
        assert r.json()["rows"] == [
            {"referral_quarter": "2017-Q1", "children": published(_ids(kids))},
            {"referral_quarter": "2017-Q2", "children": None, "withheld": True, "withheld_fields": ["children"]},
        ]
        # a table too large to list is refused
        r = await client.get("/v1/metrics/children", params={"group_by": "local_authority,nationality",
                                                              "disclosure": "perturb"}, headers=READ)  # fmt: skip
        assert r.status_code == 422 and "at most 2,000 cells" in r.json()["detail"], r.text


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
            r = await client.get(path, params={"disclosure": "perturb", **params}, headers=READ)
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


def test_statistics_are_withheld_with_their_count_and_only_then() -> None:
    # A noisy ptable that publishes 8 cases as 10 and 7 as nothing. Withholding the median of the 8 beside
    # their published 10 would say that the true count is under 10 (7-9 with this noise): the statistic
    # goes with its published count, as the sparsity rule does.
    noisy = Ptable([(7, 1, 0), (8, 3, 2), (12, 5, 0)], name="noisy")
    d = Discloser("perturb", noisy)
    stats = [("delay_count", ["delay_median"])]
    row = {"children": 12, "_ck_children": 5, "delay_count": 8, "_ck_delay_count": 3, "delay_median": 1.5}
    assert d.row(row, ["children", "delay_count"], statistics=stats) == {
        "children": 12, "delay_count": 10, "delay_median": 1.5}  # fmt: skip
    small = {**row, "delay_count": 7, "_ck_delay_count": 1}
    assert d.row(small, ["children", "delay_count"], statistics=stats) == {
        "children": 12, "delay_count": None, "delay_median": None,
        "withheld": True, "withheld_fields": ["delay_count", "delay_median"]}  # fmt: skip
    # With nothing to compute (no case), the withheld median is listed all the same: 0 and 1-9 alike.
    empty = {**row, "delay_count": 0, "_ck_delay_count": 0, "delay_median": None}
    assert d.row(empty, ["children", "delay_count"], statistics=stats)["withheld_fields"] == [
        "delay_count", "delay_median"]  # fmt: skip
    # As counted, nothing is withheld.
    assert Discloser("none", noisy).row(row, ["children", "delay_count"], statistics=stats) == {
        "children": 12, "delay_count": 8, "delay_median": 1.5}  # fmt: skip


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
