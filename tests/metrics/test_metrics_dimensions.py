"""Each dimension, edges included, through the HTTP API on events that went through real NATS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ictg_metrics.dimensions import DIMENSIONS
from tests.support.metrics_events import Child, at
from tests.support.metrics_http import counts, feed, metrics_app


async def test_first_contact_band_edges_and_as_of(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    r = "2017-03-01"
    kids = [
        Child(at(r, 9)).contact(
            at("2017-03-02", 23), outcome="attempted", method="phone", party="social_worker"
        ),  # 1 day
        Child(at(r, 9)).contact(at("2017-03-03", 0, 30)),  # 2 days
        Child(at(r, 9)).contact(at("2017-03-07", 23, 59)),  # 6 days
        Child(at(r, 9)).contact(at("2017-03-08", 0, 1)),  # 7 days
        Child(at(r, 9)),  # none
        Child(at(r, 23, 30)).contact(at("2017-03-02", 0, 10)),  # 23:30 → 00:10 is 1 calendar day in London
    ]
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        assert await counts(client, group_by="first_contact_band", as_of="2017-12-31") == {
            "0-1": 2, "2-6": 2, "7+": 1, "none": 1, "total": 6,
        }  # fmt: skip
        # a contact after as_of does not count: as of 7 March the 8 March contact is still "none"
        assert (await counts(client, group_by="first_contact_band", as_of="2017-03-07"))["none"] == 2
        assert (await counts(client, first_contact_band="7+", as_of="2017-03-08"))["total"] == 1


async def test_status_and_exit_as_of(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    exits_on_as_of = (
        Child(at("2017-01-10")).allocate(at("2017-01-11")).exit(at("2017-06-30", 23, 30), "declined_service", "none")
    )
    exits_after = (
        Child(at("2017-01-10")).allocate(at("2017-01-11")).exit(at("2017-07-01", 0, 30), "work_completed", "ngo")
    )
    allocated_later = Child(at("2017-01-10")).allocate(at("2017-07-01", 9))
    not_yet_referred = Child(at("2017-07-02"))
    async with metrics_app(s) as client:
        await feed(client, s, exits_on_as_of, exits_after, allocated_later, not_yet_referred)
        assert await counts(client, group_by="status", as_of="2017-06-30") == {
            "allocated": 1, "awaiting_allocation": 1, "exited": 1, "total": 3,
        }  # fmt: skip
        assert await counts(client, group_by="exited,exit_reason,exit_destination", as_of="2017-06-30") == {
            (False, None, None): 2, (True, "declined_service", "none"): 1, "total": 3,
        }  # fmt: skip
        after = await counts(client, group_by="exit_month,transitioned", as_of="2017-07-31")
        assert after == {("2017-06", False): 1, ("2017-07", True): 1, (None, False): 2, "total": 4}
        assert (await counts(client, group_by="status", as_of="2017-07-02")) == {
            "allocated": 1, "exited": 2, "awaiting_allocation": 1, "total": 4,
        }  # fmt: skip


async def test_months_in_service_band_edges(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    received = at("2017-01-01")
    day = received.date()
    # 91 days = 2.99 months → 0-3; 92 days = 3.02 → 3-6; exit counts at min(exit, as_of)
    in_service = Child(received)
    exited_early = Child(received).exit(at((day + timedelta(days=10)).isoformat()))
    async with metrics_app(s) as client:
        await feed(client, s, in_service, exited_early)
        for days, band in [(0, "0-3"), (91, "0-3"), (92, "3-6"), (182, "3-6"), (183, "6-12"), (365, "6-12"),
                           (366, "12-18"), (547, "12-18"), (548, "18+")]:  # fmt: skip
            got = await counts(
                client, group_by="months_in_service_band", as_of=(day + timedelta(days=days)).isoformat()
            )
            expected = {"0-3": 2} if band == "0-3" else {band: 1, "0-3": 1}
            assert got == {**expected, "total": 2}, (days, got)
        got = await counts(
            client, group_by="months_in_service_band,exited", as_of=(day + timedelta(days=400)).isoformat()
        )
        assert got == {("0-3", True): 1, ("12-18", False): 1, "total": 2}


async def test_contact_frequencies_main_third_party_and_activity_base(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    r = at("2017-01-01")
    # as of 2 March: 60 days in service = 1.97 months
    twice = Child(r).contact(at("2017-01-15")).contact(at("2017-02-15"), method="video").contact(at("2017-03-03"))
    once = Child(r).contact(at("2017-01-15"), method="phone").contact(at("2017-02-20"), outcome="attempted")
    third = (
        Child(r).contact(at("2017-01-05"), party="solicitor").contact(at("2017-01-06"), party="police")
        .contact(at("2017-01-07"), party="police").contact(at("2017-01-08"), party="solicitor")
        .contact(at("2017-01-09"), party="teacher").contact(at("2017-01-10"), party="teacher")
        .contact(at("2017-03-01"), party="teacher")  # 7 ≥ 3 × 1.97 → 3_or_more_per_month
    )  # fmt: skip
    missing_no_contact = Child(r, attrs={"missing_at_referral": True})
    new = Child(at("2017-02-10")).contact(at("2017-02-11"))
    async with metrics_app(s) as client:
        await feed(client, s, twice, once, third, missing_no_contact, new)
        q = {"as_of": "2017-03-02"}
        assert await counts(client, group_by="contact_frequency", **q) == {
            "monthly_or_more": 2, "less_than_monthly": 1, "none": 2, "total": 5,
        }  # fmt: skip
        assert await counts(client, group_by="face_to_face_frequency", **q) == {
            "less_than_monthly": 1, "monthly_or_more": 1, "none": 3, "total": 5,
        }  # fmt: skip
        assert await counts(client, group_by="third_party_frequency", **q) == {
            "3_or_more_per_month": 1,
            "none": 4,
            "total": 5,
        }
        # solicitor 2, police 2, teacher 2 by 28 Feb… and 3 with the 1 March one
        assert (await counts(client, group_by="main_third_party", as_of="2017-02-28"))["police"] == 1
        assert (await counts(client, group_by="main_third_party", **q))["teacher"] == 1
        # activity base: ≥ 1 month in service, and not (missing at referral with no contact made)
        assert await counts(client, group_by="activity_base", **q) == {False: 2, True: 3, "total": 5}


async def test_topics_legal_advice_and_cjs_multi_values(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    r = at("2017-01-01")
    a = Child(r, attrs={"cjs_involvement": ["victim", "witness"]}).contact(at("2017-01-02"), topics=["safety", "nrm"])
    a.contact(at("2017-01-03"), method="phone", topics=["health"]).contact(
        at("2017-02-01"), topics=["safety", "education"]
    )
    a.advocacy(at("2017-01-05"), "legal_advice", "immigration").advocacy(at("2017-01-06"), "meeting", "health")
    b = (
        Child(r)
        .contact(at("2017-01-02"), topics=["safety"], party="social_worker")
        .advocacy(at("2017-03-01"), "legal_advice", "criminal_justice")
    )
    async with metrics_app(s) as client:
        await feed(client, s, a, b)
        assert await counts(client, group_by="topic", as_of="2017-01-31") == {"nrm": 1, "safety": 1, "total": 2}
        assert await counts(client, group_by="topic", as_of="2017-12-31") == {
            "education": 1,
            "nrm": 1,
            "safety": 1,
            "total": 2,
        }
        assert await counts(client, group_by="legal_advice_area") == {
            "criminal_justice": 1,
            "immigration": 1,
            "total": 2,
        }
        # b has no involvement: an empty list counts as none
        assert await counts(client, group_by="cjs_involvement") == {"victim": 1, "witness": 1, "none": 1, "total": 2}
        assert (await counts(client, topic="education", as_of="2017-01-31"))["total"] == 0
        assert (await counts(client, topic=["education", "nrm"], as_of="2017-12-31"))["total"] == 1


async def test_missing_in_service_and_long_term_missing_edges(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    r = at("2017-01-01", 9)
    at_referral_only = Child(r, attrs={"missing_at_referral": True})  # open since 1 Jan
    in_service_60 = Child(r).missing(at("2017-02-01"), at("2017-04-02"))  # lasted exactly 60 days
    in_service_59 = Child(r).missing(at("2017-02-01"), at("2017-04-01"))  # 59 days
    never = Child(r)
    async with metrics_app(s) as client:
        await feed(client, s, at_referral_only, in_service_60, in_service_59, never)
        got = await counts(client, group_by="missing_in_service", as_of="2017-01-31")
        assert got == {False: 4, "total": 4}
        assert await counts(client, group_by="missing_in_service", as_of="2017-02-01") == {
            False: 2,
            True: 2,
            "total": 4,
        }
        # the open episode reaches 60 days on 2 March (1 Jan + 60)
        assert await counts(client, group_by="long_term_missing", as_of="2017-03-01") == {False: 4, "total": 4}
        assert await counts(client, group_by="long_term_missing", as_of="2017-03-02") == {False: 3, True: 1, "total": 4}
        # the 60-day episode (1 Feb → 2 Apr) is long-term once it has lasted 60 days; the 59-day one never
        assert await counts(client, group_by="long_term_missing", as_of="2017-04-01") == {False: 3, True: 1, "total": 4}
        assert await counts(client, group_by="long_term_missing", as_of="2017-04-02") == {False: 2, True: 2, "total": 4}
        assert await counts(client, group_by="long_term_missing", as_of="2018-01-01") == {False: 2, True: 2, "total": 4}
    async with metrics_app(s, long_term_missing_days=59) as client:  # configurable
        assert await counts(client, group_by="long_term_missing", as_of="2018-01-01") == {False: 1, True: 3, "total": 4}


async def test_nrm_latest_outcome_and_current_local_authority(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    r = at("2017-01-01")
    a = (
        Child(r)
        .nrm(at("2017-02-01"), "reasonable_grounds", "positive")
        .nrm(at("2017-05-01"), "conclusive_grounds", "negative")
    )
    a.nrm(at("2017-08-01"), "conclusive_grounds", "positive").move(at("2017-03-01"), "E09000001", "london")
    b = Child(r).move(at("2017-02-01"), "E06000001", "north_east").move(at("2017-06-01"), "W06000015", "wales")
    async with metrics_app(s) as client:
        await feed(client, s, a, b)
        assert await counts(client, group_by="nrm_reasonable_grounds,nrm_conclusive_grounds", as_of="2017-01-31") == {
            ("pending", "pending"): 2, "total": 2,
        }  # fmt: skip
        assert await counts(client, group_by="nrm_reasonable_grounds,nrm_conclusive_grounds", as_of="2017-06-01") == {
            ("pending", "pending"): 1, ("positive", "negative"): 1, "total": 2,
        }  # fmt: skip
        assert (await counts(client, group_by="nrm_conclusive_grounds", as_of="2017-08-01"))["positive"] == 1
        assert await counts(client, group_by="current_local_authority", as_of="2017-01-31") == {
            "E08000003": 2,
            "total": 2,
        }
        assert await counts(client, group_by="current_local_authority", as_of="2017-03-01") == {
            "E06000001": 1, "E09000001": 1, "total": 2,
        }  # fmt: skip
        assert await counts(client, group_by="current_region,local_authority", as_of="2017-12-31") == {
            ("london", "E08000003"): 1, ("wales", "E08000003"): 1, "total": 2,
        }  # fmt: skip


async def test_at_referral_dimensions_and_period(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    a = Child(
        at("2017-01-31", 23, 30), attrs={"gender": "female", "uasc": False, "age_at_referral": 16, "age_band": "16-17"}
    )
    b = Child(at("2017-06-30", 23, 30), identified_on=at("2017-06-28").date())  # BST: 22:30Z is still 30 June in London
    c = Child(at("2017-07-01"), identified_on=at("2017-05-01").date(),
              attrs={"exploitation": {"primary": "sexual", "others": [], "county_lines": True}})  # fmt: skip
    async with metrics_app(s) as client:
        await feed(client, s, a, b, c)
        assert await counts(client, group_by="referral_month") == {"2017-01": 1, "2017-06": 1, "2017-07": 1, "total": 3}
        assert await counts(client, group_by="referral_quarter") == {
            "2017-Q1": 1,
            "2017-Q2": 1,
            "2017-Q3": 1,
            "total": 3,
        }
        assert await counts(client, group_by="referral_delay_band") == {"0-1": 1, "2": 1, "40+": 1, "total": 3}
        assert await counts(client, group_by="gender,uasc,age_at_referral") == {
            ("female", False, 16): 1, ("male", True, 15): 2, "total": 3,
        }  # fmt: skip
        assert await counts(client, group_by="exploitation_type,county_lines") == {
            ("criminal", False): 2, ("labour", False): 2, ("sexual", True): 1, "total": 3,
        }  # fmt: skip
        assert (await counts(client, referred_from="2017-02-01", referred_to="2017-06-30"))["total"] == 1
        assert (await counts(client, as_of="2017-06-30"))["total"] == 2
        assert (await counts(client, gender="female", uasc="false", age_at_referral="16"))["total"] == 1
        for name in ("nationality", "nationality_group", "primary_exploitation", "referrer_type", "region", "pathway",
                     "living_situation_at_referral", "trafficker_contact_at_referral", "education_at_referral",
                     "missing_at_referral", "age_band", "referral_year"):  # fmt: skip
            got = await counts(client, group_by=name)
            assert sum(v for k, v in got.items() if k != "total") == 3, (name, got)


def test_a_dimension_lists_null_exactly_where_a_child_can_have_no_value() -> None:
    nullable = {d.name for d in DIMENSIONS.values() if d.nullable}
    assert nullable == {
        "age_at_referral", "exit_reason", "exit_destination", "exit_month", "exit_year", "exit_financial_year"
    }  # fmt: skip
    for d in DIMENSIONS.values():
        assert d.nullable == ("null" in d.definition), d.name  # its definition says so in words
