"""A council's exports, for two councils and a child who moved between them: the SSDA903 Missing table
(the children each looks after, its own date of birth where the service has an estimate) checked by the
DfE's validator merged with each council's own Header, and Annex A List 8's missing columns, row by row.

Sefton and Wirral are this file's own councils (one database for the run)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ictg_cases.councils.annex_a import COLUMNS as LIST_8_COLUMNS
from ictg_cases.councils.export import collection_year_start
from ictg_common import clock
from tests.support.cases_harness import WRITE, Stack, iso, stack_fixture  # noqa: F401
from tests.support.platform import auth
from tests.support.ssda903 import header_csv, missing_table_errors

SEFTON, WIRRAL = "E08000014", "E08000015"


def council(code: str) -> dict[str, str]:
    return auth(
        "la:read", "la:write", org_type="local_authority", org_name=f"Council {code}", regions=[], la_codes=[code],
        sub=f"exports-{code}",
    )  # fmt: skip


async def write(stack: Stack, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await stack.post(path, body, headers=WRITE)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def episode(
    stack: Stack, case_id: str, start: datetime, end: datetime | None = None, *, known: bool = False,
    offered: bool = True,
) -> str:  # fmt: skip
    ep = await write(
        stack, f"/v1/cases/{case_id}/missing-episodes",
        {"started_at": iso(start), "whereabouts_known": known, "reported_to_police": True,
         "missing_from_care_meeting": False, "professional_network_meeting": False},
    )  # fmt: skip
    if end is not None:
        await write(stack, f"/v1/cases/{case_id}/missing-episodes/{ep['id']}/return",
                    {"ended_at": iso(end), "return_interview_offered": offered})  # fmt: skip
    return str(ep["id"])


async def interview(stack: Stack, case_id: str, episode_id: str, at: datetime, outcome: str) -> None:
    await write(stack, f"/v1/cases/{case_id}/missing-episodes/{episode_id}/return-interview",
                {"offered_at": iso(at), "outcome": outcome, "conducted_by": "local_authority"})  # fmt: skip


async def identify(stack: Stack, case_id: str, headers: dict[str, str], **body: Any) -> None:
    r = await stack.cases.put(f"/v1/cases/{case_id}/local-identifiers", json=body, headers=headers)
    assert r.status_code == 200, r.text


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_two_councils_export_their_looked_after_children_missing_table_and_annex_a_list_8(stack: Stack) -> None:
    today = clock.london_date(clock.utcnow())
    year_end = collection_year_start(today)  # 1 April: the last complete collection year ends the day before
    year_start = year_end.replace(year=year_end.year - 1)
    base = datetime(year_start.year, 5, 1, 10, 0, tzinfo=UTC)
    sefton, wirral = council(SEFTON), council(WIRRAL)

    def day(n: int) -> datetime:
        return base + timedelta(days=n)

    def dmy(n: int) -> str:
        return day(n).astimezone(clock.LONDON).strftime("%d/%m/%Y")

    # Sefton's children: a, b (the service has only an estimated age; Sefton records her date of birth),
    # c (identified, not looked after), d (looked after by Sefton, then by Wirral after a move),
    # f (estimated age, Sefton has no date of birth either). Wirral's: d and e (no episodes).
    a = (await stack.case(received_at=day(0), local_authority_code=SEFTON))["id"]
    await episode(stack, a, day(3), day(5), offered=True)
    await episode(stack, a, day(40), day(41), known=True)
    await episode(stack, a, day(90), day(92), offered=False)
    b = (await stack.case(received_at=day(0), local_authority_code=SEFTON, child__date_of_birth=None,
                          child__estimated_age=14))["id"]  # fmt: skip
    b_episode = await episode(stack, b, day(20), day(21), offered=True)
    await interview(stack, b, b_episode, day(21) + timedelta(hours=20), "accepted")
    c = (await stack.case(received_at=day(0), local_authority_code=SEFTON))["id"]
    await episode(stack, c, day(30), day(31))
    d = (await stack.case(received_at=day(0), local_authority_code=SEFTON, child__date_of_birth="2009-11-23"))["id"]
    await episode(stack, d, day(50), day(52), offered=True)
    await episode(stack, d, day(55), day(56), known=True)
    await episode(stack, d, day(58))  # missing when the child moves to Wirral; returns in Wirral's time
    await write(stack, f"/v1/cases/{d}/moves", {"moved_at": iso(day(60)), "local_authority_code": WIRRAL})
    [open_episode] = [e for e in (await stack.get(f"/v1/cases/{d}/missing-episodes")).json()["items"]
                      if e["ended_at"] is None]  # fmt: skip
    await write(stack, f"/v1/cases/{d}/missing-episodes/{open_episode['id']}/return",
                {"ended_at": iso(day(62)), "return_interview_offered": True})  # fmt: skip
    d_last = await episode(stack, d, day(80), day(81), offered=False)
    await interview(stack, d, d_last, day(81) + timedelta(hours=1), "not_offered")
    e = (await stack.case(received_at=day(0), local_authority_code=WIRRAL))["id"]
    f = (await stack.case(received_at=day(0), local_authority_code=SEFTON, child__date_of_birth=None,
                          child__estimated_age=16))["id"]  # fmt: skip
    f_episode = await episode(stack, f, day(95), day(96), offered=True)
    await interview(stack, f, f_episode, day(97), "declined")  # 24 hours after the return

    await identify(stack, a, sefton, la_child_id="SEF1", looked_after=True)
    await identify(stack, b, sefton, la_child_id="SEF2", looked_after=True, date_of_birth="2011-05-17")
    await identify(stack, c, sefton, la_child_id="SEF3")  # Sefton does not look after this child
    await identify(stack, d, sefton, la_child_id="SEF4", looked_after=True)
    await identify(stack, f, sefton, la_child_id="SEF6", looked_after=True)
    await identify(stack, d, wirral, la_child_id="WIR4", looked_after=True)
    await identify(stack, e, wirral, la_child_id="WIR5", looked_after=True)
    # Each council's own SSDA903 Header holds only the children it looks after, with its dates of birth.
    sefton_header = header_csv([{"CHILD": "SEF1", "DOB": "04/03/2010"}, {"CHILD": "SEF2", "DOB": "17/05/2011"},
                                {"CHILD": "SEF4", "DOB": "23/11/2009"}, {"CHILD": "SEF6", "DOB": "09/09/2010"}])  # fmt: skip
    wirral_header = header_csv([{"CHILD": "WIR4", "DOB": "23/11/2009"}, {"CHILD": "WIR5", "DOB": "04/03/2010"}])
    year = str(year_end.year)

    # --- The SSDA903 Missing table ---
    params = {"from": year_start.isoformat(), "to": (year_end - timedelta(days=1)).isoformat()}
    r = await stack.cases.get("/v1/exports/ssda903/missing", params=params, headers=sefton)
    assert r.status_code == 200, r.text
    assert rows_of(r.text) == [
        ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"],
        ["SEF1", "04/03/2010", "M", dmy(3), dmy(5)],
        ["SEF2", "17/05/2011", "M", dmy(20), dmy(21)],  # the date of birth Sefton records
        ["SEF1", "04/03/2010", "A", dmy(40), dmy(41)],
        ["SEF4", "23/11/2009", "M", dmy(50), dmy(52)],
        ["SEF4", "23/11/2009", "A", dmy(55), dmy(56)],
        ["SEF4", "23/11/2009", "M", dmy(58), ""],  # returned in Wirral's time: Wirral's to report
        ["SEF1", "04/03/2010", "M", dmy(90), dmy(92)],
    ]
    assert (r.headers["x-not-looked-after-episodes"], r.headers["x-unidentified-episodes"]) == ("1", "1")
    assert missing_table_errors(r.text, collection_year=year, header=sefton_header) == []
    unidentified = await stack.cases.get("/v1/exports/ssda903/missing/unidentified", params=params, headers=sefton)
    assert [(u["case_id"], u["reason"]) for u in unidentified.json()["items"]] == [(f, "no_date_of_birth")]

    # Every identified child: the child Sefton does not look after is in no Header of Sefton's (INT04).
    everyone = await stack.cases.get("/v1/exports/ssda903/missing", params={**params, "all": "true"}, headers=sefton)
    assert [row[0] for row in rows_of(everyone.text)[1:]].count("SEF3") == 1
    assert everyone.headers["x-not-looked-after-episodes"] == "0"
    errors = missing_table_errors(everyone.text, collection_year=year, header=sefton_header)
    assert [e.split(":")[0] for e in errors] == ["INT04"] and "CHILD SEF3" in errors[0]
    # A date of birth that is not the council's fails INT13: the check is real.
    other_dob = sefton_header.replace("17/05/2011", "18/05/2011")
    assert [e.split(":")[0] for e in missing_table_errors(r.text, collection_year=year, header=other_dob)] == ["INT13"]

    w = await stack.cases.get("/v1/exports/ssda903/missing", params=params, headers=wirral)
    assert rows_of(w.text)[1:] == [
        ["WIR4", "23/11/2009", "M", dmy(58), dmy(62)],  # began in Sefton's time: both report it, the end is Wirral's
        ["WIR4", "23/11/2009", "M", dmy(80), dmy(81)],
    ]
    assert missing_table_errors(w.text, collection_year=year, header=wirral_header) == []

    # --- Annex A List 8, as at the last day of the collection year: its 12 months ---
    as_at = (year_end - timedelta(days=1)).isoformat()
    csv_answer = await stack.cases.get("/v1/exports/annex-a/list-8", params={"as_at": as_at, "format": "csv"},
                                       headers=sefton)  # fmt: skip
    assert csv_answer.status_code == 200, csv_answer.text
    assert csv_answer.headers["content-type"].startswith("text/csv")
    assert f"annex-a-list-8-{SEFTON}-{as_at}.csv" in csv_answer.headers["content-disposition"]
    assert rows_of(csv_answer.text) == [
        ["Child Unique ID",
         "Number of Episodes the Child has been 'Missing' from their Placement in the last 12 months",
         "Number of Episodes the Child has been 'Absent' from their Placement in the last 12 months",
         "Was the child offered a Return Interview after their last missing episode (Y/N)?",
         "Did the child accept a Return Interview after their last missing episode (Y/N)?"],
        ["SEF1", "2", "1", "N", ""],  # no interview recorded: the return said none was offered
        ["SEF2", "1", "0", "Y", "Y"],  # the interview: accepted
        ["SEF4", "2", "1", "", ""],  # the last one ended in Wirral's time: not Sefton's to report
        ["SEF6", "1", "0", "Y", "N"],  # declined (no date of birth needed here)
    ]  # fmt: skip
    wirral_csv = await stack.cases.get("/v1/exports/annex-a/list-8", params={"as_at": as_at},
                                       headers={**wirral, "Accept": "text/csv"})  # fmt: skip
    assert rows_of(wirral_csv.text)[1:] == [["WIR4", "2", "0", "N", "N"], ["WIR5", "0", "0", "", ""]]

    js = await stack.cases.get("/v1/exports/annex-a/list-8", params={"as_at": as_at}, headers=wirral)
    assert js.status_code == 200 and js.headers["content-type"] == "application/json", js.text
    body = js.json()
    assert body["columns"] == LIST_8_COLUMNS and body["local_authority_code"] == WIRRAL
    assert (body["as_at"], body["period_start"]) == (as_at, year_start.isoformat())
    assert [
        (i["child_unique_id"], i["case_id"], i["missing_episodes"], i["absent_episodes"],
         i["return_interview_offered"], i["return_interview_accepted"])
        for i in body["items"]
    ] == [("WIR4", d, 2, 0, False, False), ("WIR5", e, 0, 0, None, None)]  # fmt: skip

    # An earlier as_at: its own 12 months; a return after as_at is not yet known, nor an interview offered after it.
    async def as_of(n: int) -> list[tuple[Any, ...]]:
        r = await stack.cases.get("/v1/exports/annex-a/list-8", params={"as_at": day(n).date().isoformat()},
                                  headers=sefton)  # fmt: skip
        return [(i["child_unique_id"], i["missing_episodes"], i["return_interview_offered"],
                 i["return_interview_accepted"]) for i in r.json()["items"]]  # fmt: skip

    assert await as_of(4) == [("SEF1", 1, None, None), ("SEF2", 0, None, None), ("SEF4", 0, None, None),
                              ("SEF6", 0, None, None)]  # fmt: skip
    assert (await as_of(21))[1] == ("SEF2", 1, True, None)  # returned on day 21; the interview came a day later
    assert (await as_of(22))[1] == ("SEF2", 1, True, True)


async def test_annex_a_list_8_refuses_what_is_not_the_councils_and_bad_input(stack: Stack) -> None:
    sefton = council(SEFTON)
    path = "/v1/exports/annex-a/list-8"
    tomorrow = (clock.london_date(clock.utcnow()) + timedelta(days=1)).isoformat()
    for params, pointer in [
        ({"as_at": tomorrow}, "#query/as_at"),
        ({"as_at": "31/03/2026"}, "#query/as_at"),
        ({"format": "xlsx"}, "#query/format"),
        ({"since": "2026-01-01"}, "#query/since"),
    ]:
        r = await stack.cases.get(path, params=params, headers=sefton)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (params, r.text)
        assert [e["pointer"] for e in r.json()["errors"]] == [pointer], (params, r.text)
    other = await stack.cases.get(path, params={"local_authority_code": WIRRAL}, headers=sefton)
    assert other.status_code == 403 and other.headers["content-type"] == "application/problem+json"
    staff = await stack.cases.get(path, headers=auth("cases:read", regions=["north_west"], sub="staff"))
    assert staff.status_code == 403
    no_scope = auth("la:write", org_type="local_authority", org_name="Sefton", regions=[], la_codes=[SEFTON], sub="w")
    assert (await stack.cases.get(path, headers=no_scope)).status_code == 403
    assert date.fromisoformat((await stack.cases.get(path, headers=sefton)).json()["as_at"]) == clock.london_date(
        clock.utcnow()
    )
