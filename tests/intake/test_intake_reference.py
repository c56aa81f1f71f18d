"""Local-authority look-ups that forgive (issue 26): a referrer finds the code it needs by the name as it
writes it, by a code, or by the district the child is in; a wrong code says where to look."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.factories import referral_body
from tests.support.platform import auth

WRITE = auth("referrals:write")


async def look_up(intake: httpx.AsyncClient, q: str) -> list[dict[str, Any]]:
    r = await intake.get("/v1/reference/local-authorities", params={"q": q}, headers=WRITE)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


@pytest.mark.parametrize(
    ("q", "names"),
    [
        ("st helens", ["St. Helens"]),  # punctuation and letter case
        ("ST. HELENS", ["St. Helens"]),
        ("saint helens", ["St. Helens"]),
        ("city of bristol", ["Bristol, City of"]),  # words in any order
        ("stockton on tees", ["Stockton-on-Tees"]),
        ("E08000003", ["Manchester"]),  # a code
        (" e08000003 ", ["Manchester"]),
        ("manc", ["Manchester"]),  # part of a name, as before
    ],
)
async def test_a_name_as_written_or_a_code_finds_the_authority(
    intake: httpx.AsyncClient, q: str, names: list[str]
) -> None:
    found = await look_up(intake, q)
    assert [la["name"] for la in found] == names
    assert all(la["districts"] == [] for la in found)


async def test_a_code_prefix_finds_every_authority_of_that_kind(intake: httpx.AsyncClient) -> None:
    london = await look_up(intake, "E09")
    assert len(london) == 33 and {la["region"] for la in london} == {"london"}


async def test_a_district_points_to_its_upper_tier_authority(intake: httpx.AsyncClient) -> None:
    bolsover = {"code": "E07000033", "name": "Bolsover", "abolished_on": None}
    assert await look_up(intake, "bolsover") == [
        {"code": "E10000007", "name": "Derbyshire", "region": "east_midlands", "region_name": "East Midlands",
         "districts": [bolsover]}
    ]  # fmt: skip
    assert [(la["name"], la["districts"]) for la in await look_up(intake, "E07000033")] == [("Derbyshire", [bolsover])]
    # A district abolished in 2023 still names a place: it points to its successor.
    [harrogate] = await look_up(intake, "harrogate")
    assert (harrogate["code"], harrogate["name"]) == ("E06000065", "North Yorkshire")
    assert harrogate["districts"] == [{"code": "E07000165", "name": "Harrogate", "abolished_on": "2023-04-01"}]
    # So does a county abolished in 2023 (found trying the look-up as Cumbria Constabulary would): both its
    # successors, by name or by its old code.
    cumbria = {"code": "E10000006", "name": "Cumbria", "abolished_on": "2023-04-01"}
    for query in ("cumbria", "E10000006"):
        assert [(la["name"], la["districts"]) for la in await look_up(intake, query)] == [
            ("Cumberland", [cumbria]), ("Westmorland and Furness", [cumbria])
        ]  # fmt: skip
    # An authority found by its own name is listed once, without the districts that share the word.
    derby = {la["name"]: la["districts"] for la in await look_up(intake, "derby")}
    assert derby == {"Derby": [], "Derbyshire": []}


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (
            "E07000033",
            "E07000033 is Bolsover, a lower-tier district: children's services there are Derbyshire's, E10000007",
        ),
        ("Manchester", "is a name, not a local authority code: Manchester's is E08000003"),
        (
            "E10000006",
            "E10000006 was Cumbria, a county until April 2023: children's services there are now Cumberland's, "
            "E06000063 or Westmorland and Furness's, E06000064",
        ),
        ("E99999999", "is not the ONS code of an upper-tier local authority of England or Wales"),
    ],
)
async def test_a_wrong_code_names_the_right_one_and_the_look_up(
    intake: httpx.AsyncClient, code: str, words: str
) -> None:
    r = await intake.post("/v1/referrals", json=referral_body(local_authority_code=code), headers=WRITE)
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["pointer"] == "/local_authority_code"
    assert error["detail"].startswith(words)
    assert "GET /v1/reference/local-authorities?q=" in error["detail"]
