"""The data dictionary `GET /v1/metrics/dimensions` (for analysts): every dimension the API
accepts and nothing else, each with its words and its values in natural order."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any, get_args

import httpx

from ictg_common import codes
from ictg_common.reference import REGION_SLUGS, REGIONS, local_authorities
from tests.support.metrics_events import Child, at
from tests.support.metrics_http import ANALYST, feed, metrics_app
from tests.support.platform import auth

URL = "/v1/metrics/dimensions"
NOT_DIMENSIONS = ("age", "local_authority_code", "referral_week", "received_at", "children", "Gender", "la")


async def _dictionary(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    r = await client.get(URL, headers=auth("metrics:read"))
    assert r.status_code == 200, r.text
    return {d["name"]: d for d in r.json()["dimensions"]}


def _lower_bound(band: str) -> int:
    match = re.match(r"\d+", band)
    assert match, band
    return int(match.group())


async def test_lists_every_dimension_the_api_accepts_and_nothing_else(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        listed = await _dictionary(client)
        children = "/v1/metrics/children"
        # the API's own list of what group_by takes, from its refusal
        r = await client.get(children, params={"group_by": "no_such_dimension", "disclosure": "none"}, headers=ANALYST)
        assert r.status_code == 422, r.text
        known = r.json()["detail"].split("known: ", 1)[1].split(", ")
        assert sorted(known) == sorted(listed)
        for name, d in listed.items():
            r = await client.get(children, params={"group_by": name, "disclosure": "none"}, headers=ANALYST)
            assert r.status_code == 200, (name, r.text)
            assert r.json()["group_by"] == [name]
            # every listed value is one a filter takes
            values = [v["value"] for v in d["values"]] if d["values"] is not None else ["2017-01"]
            if d["kind"] == "int":
                values = ["15"]
            for value in values[:3] + values[-2:]:
                raw = str(value).lower() if isinstance(value, bool) else value
                r = await client.get(children, params={name: raw, "disclosure": "none"}, headers=ANALYST)
                assert r.status_code == 200, (name, raw, r.text)
        for name in NOT_DIMENSIONS:
            assert name not in listed
            for params in ({"group_by": name, "disclosure": "none"}, {name: "x", "disclosure": "none"}):
                r = await client.get(children, params=params, headers=ANALYST)
                assert r.status_code == 422, (params, r.text)
        # and the other measures take the same dimensions
        for path in ("/v1/metrics/caseload", "/v1/metrics/timeliness"):
            r = await client.get(path, params={"uasc": "true", "referral_delay_band": "40+", "disclosure": "none"},
                                 headers=ANALYST)  # fmt: skip
            assert r.status_code == 200, (path, r.text)
            r = await client.get(path, params={"group_by": NOT_DIMENSIONS[0], "disclosure": "none"}, headers=ANALYST)
            assert r.status_code == 422, (path, r.text)


async def test_every_dimension_is_described(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        listed = await _dictionary(client)
    for name, d in listed.items():
        assert d["label"].strip() and d["definition"].strip(), name
        assert d["kind"] in ("text", "bool", "int"), name
        assert isinstance(d["multi_valued"], bool), name
        if d["values"] is None:
            assert d["values_note"], name  # open-ended values are explained
        else:
            assert d["values"], name
            assert all(v["label"].strip() for v in d["values"]), name
            assert len({v["value"] for v in d["values"]}) == len(d["values"]), name
        if d["kind"] == "bool":
            assert d["values"] == [{"value": False, "label": "No"}, {"value": True, "label": "Yes"}], name
    multi = {n for n, d in listed.items() if d["multi_valued"]}
    assert multi == {"exploitation_type", "topic", "legal_advice_area", "cjs_involvement"}
    assert listed["referral_year"]["values"] is None
    assert listed["age_at_referral"]["kind"] == "int" and listed["age_at_referral"]["values"] is None
    assert "30.4375" in listed["months_in_service_band"]["definition"]


async def test_values_come_in_natural_order(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        listed = await _dictionary(client)

    def values(name: str) -> list[Any]:
        return [v["value"] for v in listed[name]["values"]]

    assert values("referral_delay_band") == ["0-1", "2", "3-15", "16-39", "40+"]
    assert values("referral_delay_working_days_band") == ["0-1", "2", "3-15", "16-39", "40+"]
    assert values("first_contact_band") == ["0-1", "2-6", "7+", "none"]
    assert values("months_in_service_band") == ["0-3", "3-6", "6-12", "12-18", "18+"]
    assert values("age_band") == ["0-6", "7-13", "14-15", "16-17", "18+", "unknown"]
    bands = [n for n in listed if n.endswith("_band")]
    assert len(bands) >= 4
    for name in bands:
        numeric = [v for v in values(name) if v[0].isdigit()]
        assert [_lower_bound(v) for v in numeric] == sorted(_lower_bound(v) for v in numeric), name
    # codes in the vocabulary's order
    assert values("gender") == list(get_args(codes.Gender))
    assert values("status") == ["awaiting_allocation", "allocated", "exited"]
    assert values("exit_reason") == list(get_args(codes.ExitReason))


async def test_places_carry_their_names(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        listed = await _dictionary(client)
    expected = [{"value": la.code, "label": la.name} for la in local_authorities()]
    assert len(expected) == 175
    for name in ("local_authority", "current_local_authority"):
        assert listed[name]["values"] == expected, name
        by_code = {v["value"]: v["label"] for v in listed[name]["values"]}
        assert by_code["E08000003"] == "Manchester"
    for name in ("region", "current_region"):
        assert listed[name]["values"] == [{"value": s, "label": n} for s, n in zip(REGION_SLUGS, REGIONS, strict=True)]
    nationality = {v["value"]: v["label"] for v in listed["nationality"]["values"]}
    assert nationality["GB"] == "United Kingdom" and "stateless" in nationality and "unknown" in nationality


async def test_needs_metrics_read_and_refuses_unknown_parameters(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        assert (await client.get(URL)).status_code == 401
        for scopes in (("cases:read",), ("metrics:admin",), ()):
            r = await client.get(URL, headers=auth(*scopes))
            assert r.status_code == 403, (scopes, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        for params in ({"gender": "female"}, {"group_by": "gender"}, {"foo": "1"}):
            r = await client.get(URL, params=params, headers=auth("metrics:read"))
            assert r.status_code == 422, (params, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")


async def test_openapi_documents_the_dictionary(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        spec = (await client.get("/openapi.json")).json()
    ok = spec["paths"][URL]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/DataDictionary"}
    schemas = spec["components"]["schemas"]
    entry = schemas["DimensionEntry"]["properties"]
    for field in ("name", "label", "definition", "kind", "multi_valued", "values", "values_note"):
        assert entry[field].get("description"), field


async def test_rows_follow_the_natural_order_of_bands(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    received = date(2017, 3, 1)
    # delays 40, 16, 3, 2, 0 days: text order would give 0-1, 16-39, 2, 3-15, 40+
    kids = [Child(at(received.isoformat()), identified_on=received - timedelta(days=d)) for d in (40, 16, 3, 2, 0)]
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        natural = ["0-1", "2", "3-15", "16-39", "40+"]
        params = {"group_by": "referral_delay_band", "disclosure": "none", "as_of": "2017-12-31"}
        for path in ("/v1/metrics/children", "/v1/metrics/timeliness"):
            r = await client.get(path, params=params, headers=ANALYST)
            assert r.status_code == 200, r.text
            assert [row["referral_delay_band"] for row in r.json()["rows"]] == natural, path
        r = await client.get(
            "/v1/metrics/caseload", params={**params, "from": "2017-03", "to": "2017-04"}, headers=ANALYST
        )
        assert r.status_code == 200, r.text
        got = [(row["referral_delay_band"], row["month"]) for row in r.json()["rows"]]
        assert got == [(band, m) for band in natural for m in ("2017-03", "2017-04")]
        # a band after another dimension: sorted within each of its groups
        r = await client.get(
            "/v1/metrics/children", params={**params, "group_by": "gender,referral_delay_band"}, headers=ANALYST
        )
        assert [row["referral_delay_band"] for row in r.json()["rows"]] == natural
        r = await client.get("/v1/metrics/children", params={**params, "format": "csv"}, headers=ANALYST)
        assert r.status_code == 200, r.text
        first_column = [line.split(",")[0] for line in r.text.splitlines()]
        assert [v for v in first_column if v in natural] == natural


async def test_rows_follow_the_natural_order_of_codes(shared_settings: dict[str, Any]) -> None:
    """Statuses and frequencies come as the dictionary lists them, not in text order (which would put
    `allocated` before `awaiting_allocation` and `none` last)."""
    s = shared_settings
    waiting = Child(at("2017-03-01"))
    allocated = Child(at("2017-03-01")).allocate(at("2017-03-02"))
    for day in range(2, 28, 3):
        allocated.contact(at(f"2017-03-{day:02d}"))
    exited = Child(at("2017-03-01")).allocate(at("2017-03-02")).exit(at("2017-03-20"))
    async with metrics_app(s) as client:
        await feed(client, s, waiting, allocated, exited)
        params = {"disclosure": "none", "as_of": "2017-03-31"}
        r = await client.get("/v1/metrics/children", params={**params, "group_by": "status"}, headers=ANALYST)
        assert [row["status"] for row in r.json()["rows"]] == ["awaiting_allocation", "allocated", "exited"], r.text
        r = await client.get("/v1/metrics/children", params={**params, "group_by": "contact_frequency"},
                             headers=ANALYST)  # fmt: skip
        assert [row["contact_frequency"] for row in r.json()["rows"]] == ["none", "monthly_or_more"], r.text


async def test_groups_by_referral_delay_in_working_days(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    # (identified, received): Fri → Tue is 4 calendar days but 2 working days; 24 → 29 Dec 2026 is 5 calendar
    # days but 1 working day (Christmas Day, the weekend and the Boxing Day substitute); Mon 1 → Wed 24 June
    # is 17 working days; Mon 1 June → Mon 27 July is 40
    pairs = [
        (date(2026, 11, 20), "2026-11-24"),
        (date(2026, 12, 24), "2026-12-29"),
        (date(2026, 6, 1), "2026-06-24"),
        (date(2026, 6, 1), "2026-07-27"),
    ]
    kids = [Child(at(received), identified_on=identified) for identified, received in pairs]
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        params = {"group_by": "referral_delay_working_days_band", "disclosure": "none", "as_of": "2026-12-31"}
        r = await client.get("/v1/metrics/children", params=params, headers=ANALYST)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["group_by"] == ["referral_delay_working_days_band"]
        got = {row["referral_delay_working_days_band"]: row for row in body["rows"]}
        assert list(got) == ["0-1", "2", "16-39", "40+"]  # natural order
        assert [row["children"] for row in got.values()] == [1, 1, 1, 1]
        r = await client.get(
            "/v1/metrics/children",
            params={**params, "group_by": "referral_delay_band"},
            headers=ANALYST,
        )
        assert r.status_code == 200, r.text
        assert [row["referral_delay_band"] for row in r.json()["rows"]] == ["3-15", "16-39", "40+"]
        r = await client.get(
            "/v1/metrics/children",
            params={"referral_delay_working_days_band": "0-1", "disclosure": "none", "as_of": "2026-12-31"},
            headers=ANALYST,
        )
        assert r.status_code == 200, r.text
        assert [row["children"] for row in r.json()["rows"]] == [1], r.text  # the Christmas referral only


async def test_openapi_documents_every_answer_as_json_and_csv(shared_settings: dict[str, Any]) -> None:
    """An analyst reading /docs sees, for each measure, the JSON answer's schema, that CSV is offered, and
    that disclosure is `dp` (the default), `perturb` or `none`, and nothing else."""
    async with metrics_app(shared_settings) as client:
        spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for measure, answer in (("children", "ChildrenAnswer"), ("caseload", "CaseloadAnswer"),
                            ("timeliness", "TimelinessAnswer")):  # fmt: skip
        get = spec["paths"][f"/v1/metrics/{measure}"]["get"]
        content = get["responses"]["200"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{answer}"}, measure
        assert content["text/csv"]["schema"] == {"type": "string"} and content["text/csv"]["example"], measure
        rows = schemas[answer]["properties"]["rows"]
        assert rows["items"]["$ref"].endswith("Row") and rows["description"], measure
        disclosure = next(p for p in get["parameters"] if p["name"] == "disclosure")
        assert disclosure["schema"]["enum"] == ["dp", "perturb", "none"] and disclosure["schema"]["default"] == "dp"
