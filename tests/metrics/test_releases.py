"""Published releases (`/v1/releases`): the catalogue counted once as at a month's end, stored, and served
unchanged to anyone with `metrics:read`; revision notes when a later release publishes an earlier
period differently."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from ictg_common.runtime import runtime_of
from ictg_metrics.models import ReleaseTable
from ictg_metrics.releases.catalogue import CATALOGUE, Table
from tests.support.metrics_events import Child, at
from tests.support.metrics_http import feed, metrics_app, published
from tests.support.platform import auth

READER = auth("metrics:read")
ADMIN = auth("metrics:admin")
LEEDS = {"local_authority_code": "E08000035", "region": "yorkshire_and_the_humber"}
KENT = {"local_authority_code": "E10000016", "region": "south_east"}


def kids(n: int, day: str, **attrs: Any) -> list[Child]:
    return [Child(at(day), attrs=dict(attrs)) for _ in range(n)]


def ids(children: list[Child]) -> list[str]:
    return [c.referral_id for c in children]


def cell(body: dict[str, Any], **where: Any) -> dict[str, Any]:
    found = [r for r in body["rows"] if all(r.get(k) == v for k, v in where.items())]
    assert len(found) == 1, (where, found)
    return found[0]


async def test_a_release_publishes_the_catalogue_once_and_serves_it_unchanged(
    shared_settings: dict[str, Any],
) -> None:
    s = shared_settings
    jan = kids(24, "2025-01-10")  # Manchester, north west (the default child)
    feb = kids(15, "2025-02-12", **LEEDS)
    small = kids(3, "2025-02-20", **KENT)  # a group of 3: withheld, like the empty regions
    async with metrics_app(s, release_check_seconds=0) as client:
        ptable = runtime_of(client.app).extras.ptable  # type: ignore[attr-defined]
        await feed(client, s, *jan, *feb, *small)

        r = await client.post("/v1/admin/releases", params={"release": "2025-03"}, headers=ADMIN)
        assert r.status_code == 201, r.text
        listed = (await client.get("/v1/releases", headers=READER)).json()["releases"]
        assert [x["release"] for x in listed] == ["2025-03"] and listed[0]["as_at"] == "2025-03-31"

        release = (await client.get("/v1/releases/2025-03", headers=READER)).json()
        assert [t["id"] for t in release["tables"]] == [t.id for t in CATALOGUE]
        disclosure = release["disclosure"]
        assert disclosure["method"] == "cell_key" and disclosure["ptable"]["name"] == ptable.name
        assert disclosure["ptable"]["threshold"] == 10
        assert release["revisions"] == [] and release["revisions_against"] is None
        latest = (await client.get("/v1/releases/latest", headers=READER)).json()
        assert latest["release"] == "2025-03"

        by_month = (await client.get("/v1/releases/2025-03/tables/referrals_by_month", headers=READER)).json()
        months = [row["referral_month"] for row in by_month["rows"]]
        assert months[0] == "2017-01" and months[-1] == "2025-03" and len(months) == 8 * 12 + 3  # every month listed
        assert cell(by_month, referral_month="2025-01")["children"] == published(ids(jan), ptable)
        assert cell(by_month, referral_month="2025-02")["children"] == published(ids(feb + small), ptable)
        empty = cell(by_month, referral_month="2025-03")
        assert empty["children"] is None and empty["withheld"] is True  # 0, withheld like 1-9
        assert by_month["total"]["children"] == published(ids(jan + feb + small), ptable)

        regions = (
            await client.get("/v1/releases/2025-03/tables/referrals_by_financial_year_and_region", headers=READER)
        ).json()
        kent = cell(regions, referral_financial_year="2024-25", region="south_east")
        wales = cell(regions, referral_financial_year="2024-25", region="wales")
        assert kent["children"] is None and wales["children"] is None  # 3 and 0 look alike
        assert {k: v for k, v in kent.items() if k not in ("region", "region_name")} == {
            k: v for k, v in wales.items() if k not in ("region", "region_name")
        }
        north_west = cell(regions, referral_financial_year="2024-25", region="north_west")
        assert north_west["children"] == published(ids(jan), ptable)
        margin = [m for m in regions["margins"] if m["referral_financial_year"] == "2024-25"]
        assert margin == [{"referral_financial_year": "2024-25", "children": published(ids(jan + feb + small), ptable)}]
        assert "_ck_children" not in str(regions)

        timeliness = (await client.get("/v1/releases/2025-03/tables/timeliness_by_quarter", headers=READER)).json()
        q1 = cell(timeliness, referral_quarter="2025-Q1")
        assert q1["children"] == published(ids(jan + feb + small), ptable)
        assert isinstance(q1["referral_delay_days_median"], int)  # whole days
        q4 = cell(timeliness, referral_quarter="2024-Q4")
        assert q4["children"] is None and q4["referral_delay_days_median"] is None

        # Tidy CSV of the same table, withheld as c.
        text = (await client.get("/v1/releases/2025-03/tables/referrals_by_month", params={"format": "csv"},
                                 headers=READER)).text  # fmt: skip
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {r["referral_month"]: r["children"] for r in rows}["2025-03"] == "c"
        assert {r["referral_month"]: r["children"] for r in rows}["2025-01"] == str(published(ids(jan), ptable))
        totals = (await client.get("/v1/releases/2025-03/tables/referrals_by_financial_year_and_region",
                                   params={"format": "csv", "totals": "only"}, headers=READER)).text  # fmt: skip
        assert totals.splitlines()[0] == "referral_financial_year,children"

        # Stored: children recorded afterwards change nothing in it, and it is never recomputed.
        late = kids(30, "2025-02-03")
        await feed(client, s, *late)
        again = (await client.get("/v1/releases/2025-03/tables/referrals_by_month", headers=READER)).json()
        assert again == by_month
        r = await client.post("/v1/admin/releases", params={"release": "2025-03"}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["created"] is False

        # The next release counts them, and its revision notes say which earlier value changed.
        assert (
            await client.post("/v1/admin/releases", params={"release": "2025-04"}, headers=ADMIN)
        ).status_code == 201
        april = (await client.get("/v1/releases/2025-04", headers=READER)).json()
        assert april["revisions_against"] == "2025-03"
        note = {"table": "referrals_by_month", "row": "cell", "cell": {"referral_month": "2025-02"},
                "field": "children", "previous": published(ids(feb + small), ptable),
                "current": published(ids(feb + small + late), ptable)}  # fmt: skip
        assert note in april["revisions"]
        assert all(n["cell"].get("referral_month", "2025-02") <= "2025-03" for n in april["revisions"])


async def test_releases_refuse_what_they_must(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with metrics_app(s, release_check_seconds=0) as client:
        assert (await client.get("/v1/releases")).status_code == 401
        assert (await client.get("/v1/releases", headers=auth("cases:read"))).status_code == 403
        for release in ("abc", "2025-13", "1999-12", "2099-01", "2017-00"):
            r = await client.post("/v1/admin/releases", params={"release": release}, headers=ADMIN)
            assert r.status_code == 422, (release, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        r = await client.post("/v1/admin/releases", params={"release": "2025-03"}, headers=READER)
        assert r.status_code == 403
        for path in ("/v1/releases/2025-03", "/v1/releases/latest", "/v1/releases/x" * 3,
                     "/v1/releases/2025-03/tables/referrals_by_month"):  # fmt: skip
            r = await client.get(path, headers=READER)
            assert r.status_code in (404, 422), (path, r.status_code)
        assert (
            await client.post("/v1/admin/releases", params={"release": "2025-03"}, headers=ADMIN)
        ).status_code == 201
        r = await client.get("/v1/releases/2025-03/tables/no_such_table", headers=READER)
        assert r.status_code == 404 and "no table" in r.json()["detail"]
        # An empty release is still every table, every cell withheld.
        body = (await client.get("/v1/releases/2025-03/tables/referrals_by_year_and_referrer_type",
                                 headers=READER)).json()  # fmt: skip
        assert body["rows"] and all(r["children"] is None for r in body["rows"])
        # A table an earlier release stored but since taken out of the catalogue is neither listed nor served.
        async with runtime_of(client.app).sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
            session.add(ReleaseTable(release="2025-03", table_id="referrals_by_quarter_and_region",
                                     body={**body, "id": "referrals_by_quarter_and_region"}))  # fmt: skip
        for params in ({}, {"format": "csv", "totals": "only"}):
            r = await client.get("/v1/releases/2025-03/tables/referrals_by_quarter_and_region", params=params,
                                 headers=READER)  # fmt: skip
            assert r.status_code == 404 and "no table" in r.json()["detail"], (params, r.status_code)
        listed = (await client.get("/v1/releases/2025-03", headers=READER)).json()["tables"]
        assert [t["id"] for t in listed] == [t.id for t in CATALOGUE]


def test_regions_and_authorities_have_one_period_grid_and_no_two_valued_breakdown() -> None:
    """A region's (or an authority's) quarters or months nested in its financial year, or its caseload, let
    published values of 10-14 (at least 10) pin a withheld period to 0 or show it non-empty; and a region
    split in two beside its published total shows a small half non-empty (both found by the attack suite)."""
    local = [t for t in CATALOGUE if t.geography != "england_and_wales"]
    assert local and all(
        (t.basis, t.period) == ("referral", "financial_year") and t.measure != "caseload" for t in local
    )
    for measure, period in (("children", "quarter"), ("children", "month"), ("timeliness", "quarter"),
                            ("caseload", "month"), ("children", "year")):  # fmt: skip
        for geography in ("region", "local_authority"):
            with pytest.raises(ValueError, match="by financial year of referral only"):
                Table("t", "t", measure, period, geography=geography)  # type: ignore[arg-type, unused-ignore]
    with pytest.raises(ValueError, match="by financial year of referral only"):
        Table("t", "t", "children", "financial_year", geography="region", basis="exit")
    for dimension in ("missing_at_referral", "uasc", "missing_in_service"):
        with pytest.raises(ValueError, match="split a region in two"):
            Table("t", "t", "children", "financial_year", geography="region", dimensions=(dimension,))
        Table("t", "t", "children", "financial_year", dimensions=(dimension,))  # nationally, counts are large


async def test_a_period_still_running_at_the_last_release_is_not_a_revision(shared_settings: dict[str, Any]) -> None:
    """Found by the attack suite: the quarter, year and financial year a release's month belongs to, and every
    total, were listed as revised in the next release, though they were bound to change."""
    s = shared_settings
    async with metrics_app(s, release_check_seconds=0) as client:
        await feed(client, s, *kids(20, "2025-02-10"))
        assert (
            await client.post("/v1/admin/releases", params={"release": "2025-02"}, headers=ADMIN)
        ).status_code == 201
        await feed(client, s, *kids(20, "2025-03-10"))
        assert (
            await client.post("/v1/admin/releases", params={"release": "2025-03"}, headers=ADMIN)
        ).status_code == 201
        march = (await client.get("/v1/releases/2025-03", headers=READER)).json()
        assert march["revisions_against"] == "2025-02" and march["revisions"] == []
