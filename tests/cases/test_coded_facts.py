"""The council view's coded facts: the referral's exploitation types and flags, each with the CIN census
assessment-factor code beside the service's (councils/coded_facts.py holds the mapping)."""

from __future__ import annotations

from typing import get_args

import pytest

from ictg_cases.councils.coded_facts import CIN_FACTORS, EXPLOITATION, coded_facts
from ictg_common.codes import ExploitationType
from tests.support.cases_harness import Stack, stack_fixture  # noqa: F401
from tests.support.platform import auth

KNOWSLEY = "E08000011"


def test_every_exploitation_type_of_the_service_has_a_cin_factor() -> None:
    assert set(EXPLOITATION) == set(get_args(ExploitationType))
    assert set(EXPLOITATION.values()) <= set(CIN_FACTORS)
    assert (EXPLOITATION["sexual"], EXPLOITATION["criminal"], EXPLOITATION["labour"]) == ("11A", "24A", "12A")


@pytest.mark.parametrize(
    "attributes, pairs, factors",
    [
        (
            {"exploitation": {"primary": "criminal", "others": ["labour", "sexual"], "county_lines": True},
             "uasc": True, "missing_at_referral": True},
            [("exploitation.primary", "criminal", "24A"), ("exploitation.others", "labour", "12A"),
             ("exploitation.others", "sexual", "11A"), ("exploitation.county_lines", "county_lines", "24A"),
             ("uasc", "uasc", "9A"), ("missing_at_referral", "missing_at_referral", "10A")],
            ["9A", "10A", "11A", "12A", "24A"],
        ),
        (
            {"exploitation": {"primary": "domestic_servitude", "others": [], "county_lines": False},
             "uasc": False, "missing_at_referral": False},
            [("exploitation.primary", "domestic_servitude", "12A")],
            ["12A"],
        ),
        ({}, [], ["12A"]),  # nothing coded: still a suspected victim of trafficking
    ],
)  # fmt: skip
def test_the_referrals_facts_with_their_cin_factors(
    attributes: dict[str, object], pairs: list[tuple[str, str, str]], factors: list[str]
) -> None:
    found = coded_facts(attributes)
    assert [(f.field, f.service_code, f.cin_factor) for f in found.facts] == pairs
    assert found.cin_assessment_factors == factors
    assert all(f.cin_factor_name == CIN_FACTORS[f.cin_factor] for f in found.facts)


async def test_a_council_sees_the_coded_facts_of_its_child_in_its_view_list_and_feed(stack: Stack) -> None:
    case = await stack.case(
        local_authority_code=KNOWSLEY, exploitation={"primary": "sexual", "others": ["criminal"], "county_lines": True},
        circumstances__uasc=True, missing_at_referral=True,
    )  # fmt: skip
    knowsley = auth("la:read", org_type="local_authority", org_name="Knowsley", regions=[], la_codes=[KNOWSLEY],
                    sub="coded-facts")  # fmt: skip
    expected = {
        "facts": [
            {"field": "exploitation.primary", "service_code": "sexual", "cin_factor": "11A",
             "cin_factor_name": "Child sexual exploitation"},
            {"field": "exploitation.others", "service_code": "criminal", "cin_factor": "24A",
             "cin_factor_name": "Child criminal exploitation"},
            {"field": "exploitation.county_lines", "service_code": "county_lines", "cin_factor": "24A",
             "cin_factor_name": "Child criminal exploitation"},
            {"field": "uasc", "service_code": "uasc", "cin_factor": "9A",
             "cin_factor_name": "Unaccompanied asylum-seeking child"},
            {"field": "missing_at_referral", "service_code": "missing_at_referral", "cin_factor": "10A",
             "cin_factor_name": "Going/being missing"},
        ],
        "cin_assessment_factors": ["9A", "10A", "11A", "12A", "24A"],
    }  # fmt: skip
    one = await stack.cases.get(f"/v1/cases/{case['id']}", headers=knowsley)
    assert one.status_code == 200, one.text
    assert one.json()["coded_facts"] == expected
    listed = await stack.cases.get("/v1/cases", params={"local_authority_code": KNOWSLEY, "limit": 500},
                                   headers=knowsley)  # fmt: skip
    [mine] = [c for c in listed.json()["items"] if c["id"] == case["id"]]
    assert mine["coded_facts"] == expected
    # Staff read the referral's own fields; the CIN codes are the council's view only.
    staff = (await stack.get(f"/v1/cases/{case['id']}")).json()
    assert "coded_facts" not in staff and "24A" not in str(staff)
