"""Caseload per month and timeliness per group, through NATS and HTTP."""

from __future__ import annotations

from typing import Any

from tests.support.metrics_events import Child, at
from tests.support.metrics_http import ANALYST, feed, metrics_app


async def test_caseload_months(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    kids = [
        Child(at("2016-12-15")),  # before the window: in service from the start
        Child(at("2017-01-05")).exit(at("2017-01-31", 23, 30)),  # in and out in January (London day)
        Child(at("2017-01-20"), attrs={"gender": "female"}).exit(at("2017-03-01")),
        Child(at("2017-02-01", 0, 10)),
        Child(at("2017-03-02")).exit(at("2017-05-01")),  # exit after as_of: still in service
    ]
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        r = await client.get("/v1/metrics/caseload", params={"from": "2017-01", "to": "2017-04", "as_of": "2017-04-30",
                                                              "disclosure": "none"}, headers=ANALYST)  # fmt: skip
        assert r.status_code == 200, r.text
        assert [(x["month"], x["referrals_in"], x["exits_out"], x["in_service_end"]) for x in r.json()["rows"]] == [
            ("2017-01", 2, 1, 2), ("2017-02", 1, 0, 3), ("2017-03", 1, 1, 3), ("2017-04", 0, 0, 3),
        ]  # fmt: skip
        r = await client.get("/v1/metrics/caseload", params={"from": "2017-01", "to": "2017-02", "as_of": "2017-04-30",
                                                              "group_by": "gender", "disclosure": "none"}, headers=ANALYST)  # fmt: skip
        assert [(x["gender"], x["month"], x["in_service_end"]) for x in r.json()["rows"]] == [
            ("female", "2017-01", 1), ("female", "2017-02", 1), ("male", "2017-01", 1), ("male", "2017-02", 2),
        ]  # fmt: skip
        # Grouped by something no child has: no rows (this was a 500).
        r = await client.get("/v1/metrics/caseload", params={"from": "2017-01", "to": "2017-02", "group_by": "gender",
                                                              "gender": "other", "disclosure": "none"}, headers=ANALYST)  # fmt: skip
        assert r.status_code == 200 and r.json()["rows"] == [], r.text
        # Perturbed, small counts are withheld (and a table more than half withheld would be refused).
        r = await client.get("/v1/metrics/caseload", params={"from": "2017-01", "to": "2017-01", "as_of": "2017-04-30",
                                                              "disclosure": "perturb"}, headers=ANALYST)  # fmt: skip
        assert r.json()["rows"] == [{"month": "2017-01", "referrals_in": None, "exits_out": None, "in_service_end": None,
                                     "withheld": True, "withheld_fields": ["referrals_in", "exits_out", "in_service_end"]}]  # fmt: skip
        r = await client.get("/v1/metrics/caseload", params={"from": "2017-01", "to": "2017-04", "as_of": "2017-04-30",
                                                              "disclosure": "perturb"}, headers=ANALYST)  # fmt: skip
        assert r.status_code == 422 and "more than half of its cells would be withheld" in r.json()["detail"], r.text


async def test_timeliness(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    # Friday 3 March 2017 09:00: allocation and first contact due by the end of Monday 6 March
    fri = at("2017-03-03", 9)
    kids = [
        Child(fri).allocate(at("2017-03-03", 11)).contact(at("2017-03-03", 15), outcome="attempted", method="phone"),
        Child(fri, identified_on=at("2017-03-01").date())
        .allocate(at("2017-03-06", 23, 59))
        .contact(at("2017-03-07", 9)),
        Child(fri, identified_on=at("2017-02-01").date()),  # never allocated: missed both
        Child(fri, identified_on=at("2017-03-03").date()).allocate(at("2017-03-04", 9)).contact(at("2017-03-04", 21)),
        Child(at("2017-03-31", 9)),  # deadlines not yet passed as of 31 March: undecided
    ]
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        r = await client.get(
            "/v1/metrics/timeliness", params={"as_of": "2017-03-31", "disclosure": "none"}, headers=ANALYST
        )
        assert r.status_code == 200, r.text
        [row] = r.json()["rows"]
        assert row["children"] == 5
        assert row["referral_delay_days"] == {"count": 5, "median": 1.0, "p75": 2.0, "p90": 18.8}
        assert row["hours_to_allocation"]["count"] == 3 and row["hours_to_allocation"]["median"] == 24.0
        assert row["hours_to_first_contact"] == {"count": 3, "median": 36.0, "p75": 66.0, "p90": 84.0}
        assert row["met_referral_deadline"] == 0.6  # delays 1, 2, 30, 0, 1
        assert row["met_allocation_deadline"] == 0.75  # 3 of 4 decided
        assert row["met_first_contact_deadline"] == 0.5  # 2 of 4 decided
        # allocations after as_of do not count
        r = await client.get(
            "/v1/metrics/timeliness", params={"as_of": "2017-03-03", "disclosure": "none"}, headers=ANALYST
        )
        assert r.json()["rows"][0]["hours_to_allocation"]["count"] == 1
        # working days and days to first contact beside calendar days and hours
        r = await client.get(
            "/v1/metrics/timeliness", params={"as_of": "2017-03-31", "disclosure": "none"}, headers=ANALYST
        )
        [row] = r.json()["rows"]
        assert row["referral_delay_working_days"]["count"] == 5 and row["referral_delay_working_days"]["p90"] == 14.0
        assert row["days_to_first_contact"] == {"count": 3, "median": 1.0, "p75": 2.5, "p90": 3.4}
        assert row["allocation_deadline"] == {"met": 3, "decided": 4}
        # perturbed, a group of 5 withholds its counts and its statistics
        r = await client.get("/v1/metrics/timeliness", params={"as_of": "2017-03-31", "disclosure": "perturb"},
                             headers=ANALYST)  # fmt: skip
        [row] = r.json()["rows"]
        assert row["children"] is None and row["hours_to_allocation"] == {"count": None, "median": None, "p75": None,
                                                                          "p90": None}  # fmt: skip
        assert row["met_allocation_deadline"] is None and "met_allocation_deadline" in row["withheld_fields"]
