"""Council identifiers: la_child_id, UPN (DfE check letter), NHS number (modulus 11); looked_after and the
council's own date of birth; one child's identifiers never filed for another (the database keeps it, whatever
the application does); filing them is a change in the council's feed."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import nhs_number as nhs
import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ictg_cases.councils import repository as council_repository
from ictg_cases.councils.identifiers import LocalIdentifiersIn, nhs_number_problem, upn_check_letter, upn_problem
from ictg_common import clock
from ictg_common.db import plain_url
from ictg_common.devinfra import Infra, ensure_database
from ictg_common.errors import _validation_errors
from ictg_common.migrate import upgrade
from tests.support.cases_harness import Stack, stack_fixture  # noqa: F401
from tests.support.platform import ROOT, _admin, _with_db, auth

# Check letters worked by hand (weights 2..13 on characters 2–13; sum mod 23 indexes
# ABCDEFGHJKLMNPQRTUVWXYZ; a final letter counts as its index in that alphabet):
#   801200005001: 8·2 + 1·4 + 2·5 + 5·10 + 1·13 = 93;  93 mod 23 = 1  → B  (python-stdnum's example)
#   80120000500A: 16+4+10+50 + 0·13 = 80;  80 mod 23 = 11 → M  (temporary UPN, A = 0)
#   80120000500Z: 80 + 22·13 = 366; 366 mod 23 = 21 → Y     (temporary UPN, Z = 22)
VALID_UPNS = ["B801200005001", "G821456789012", "M80120000500A", "Y80120000500Z"]

# NHS numbers worked by hand (weights 10..2 on the first 9 digits; check = 11 − sum mod 11; 11 → 0):
#   943476591: 90+36+24+28+42+30+20+27+2 = 299; 299 mod 11 = 2 → 9
#   943476587: 90+36+24+28+42+30+20+24+14 = 308; 308 mod 11 = 0 → 11 → 0
#   943476596: 299 − 2 + 12 = 309; 309 mod 11 = 1 → 10: no valid NHS number starts this way
VALID_NHS = ["4010232137", "6105979851"]


def _reference_check_letter(twelve: str) -> str:
    """An independent implementation, straight from the DfE/GovTalk wording."""
    letters = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in "IOS"]
    value = {c: i for i, c in enumerate(letters)} | {str(d): d for d in range(10)}
    return letters[sum(value[c] * pos for pos, c in zip(range(2, 14), twelve, strict=True)) % 23]


@pytest.mark.parametrize("upn", VALID_UPNS)
def test_valid_upns(upn: str) -> None:
    assert _reference_check_letter(upn[1:]) == upn[0]
    assert upn_problem(upn) is None
    assert LocalIdentifiersIn(la_child_id="C0001", upn=upn).upn == upn


def test_reference_agrees_on_more_upns() -> None:
    for body in ["938611213045", "20312345678B", "81600000000Y", "68199999999Z"]:  # authorities 938, 203, 816, 681
        upn = _reference_check_letter(body) + body
        assert upn_problem(upn) is None, upn


def test_wrong_check_letter_names_the_right_one() -> None:
    problem = upn_problem("A801200005001")
    assert problem is not None and problem.endswith("this one's check letter should be B")
    assert problem.startswith("a UPN is 13 characters")


@pytest.mark.parametrize("upn", ["B80120000500", "B8012000050011", ""])
def test_wrong_length(upn: str) -> None:
    assert f"this one has {len(upn)} characters" in (upn_problem(upn) or "")


@pytest.mark.parametrize("upn", ["B80120000A001", "B8012 0005001", "B80120000500١"])
def test_letters_or_others_in_digit_positions(upn: str) -> None:
    problem = upn_problem(upn) or ""
    assert "must all be digits" in problem or "last character" in problem


def test_lowercase_is_refused_not_uppercased() -> None:
    assert "use capital letters" in (upn_problem("b801200005001") or "")
    assert "use capital letters" in (upn_problem("M80120000500a") or "")
    with pytest.raises(ValidationError):
        LocalIdentifiersIn(la_child_id="C0001", upn="b801200005001")


def test_temporary_upn_letters_i_o_s_are_refused() -> None:
    for last in "IOS":
        assert "other than I, O or S" in (upn_problem("B80120000500" + last) or "")
    assert "check letter" in (upn_problem("I801200005001") or "")


def test_temporary_upn_with_wrong_check_letter() -> None:
    assert (upn_problem("B80120000500A") or "").endswith("should be M")


def test_unknown_upn_codes_ask_for_null() -> None:
    assert "send null" in (upn_problem("UN1") or "")


@pytest.mark.parametrize("nhs", VALID_NHS)
def test_valid_nhs_numbers(nhs: str) -> None:
    assert nhs_number_problem(nhs) is None
    assert LocalIdentifiersIn(la_child_id="C0001", nhs_number=nhs).nhs_number == nhs


def test_nhs_wrong_check_digit() -> None:
    assert (nhs_number_problem("9434765918") or "").endswith("should be 9")
    assert (nhs_number_problem("4010232138") or "").endswith("should be 7")


def test_nhs_check_of_ten_is_never_valid() -> None:
    for last in "0123456789":
        assert "check digit of 10" in (nhs_number_problem("943476596" + last) or "")


@pytest.mark.parametrize(
    "nhs, issued",
    [
        ("4010232137", True),  # England, Wales and the Isle of Man
        ("6105979851", True),
        ("9434765919", False),  # a synthetic (test) record's number: valid check digit, never issued
        ("5000000000", False),  # reserved; its check digit is wrong anyway
        ("5000000005", False),  # reserved, with a right check digit
    ],
)
def test_nhs_numbers_must_be_in_an_issued_range(nhs: str, issued: bool) -> None:
    assert (nhs_number_problem(nhs) is None) is issued, nhs_number_problem(nhs)


@pytest.mark.parametrize(
    "upn, problem",
    [
        ("B801200005001", None),
        ("E000200005001", "no local authority's number"),  # python-stdnum: authority 000 does not exist
        (f"{upn_check_letter('66012000500' + '1')}660120005001", None),  # Wales (660-681): also UPNs
        (f"{upn_check_letter('99912000500' + '1')}999120005001", "no local authority's number"),
    ],
)
def test_upn_authority_numbers(upn: str, problem: str | None) -> None:
    found = upn_problem(upn)
    assert (found is None) if problem is None else problem in (found or ""), found


@pytest.mark.parametrize("nhs", ["943476591", "94347659190", "943476591X", "943 476 5919", "94347659１9", ""])
def test_nhs_shape(nhs: str) -> None:
    assert "exactly 10 digits" in (nhs_number_problem(nhs) or "")


@pytest.mark.parametrize("child", ["C0001", "1", "ABCDEFGHIJ", "abc123"])
def test_la_child_ids_accepted(child: str) -> None:
    assert LocalIdentifiersIn(la_child_id=child).la_child_id == child


@pytest.mark.parametrize(
    "child, words",
    [
        ("", "1 to 10"),
        ("ABCDEFGHIJK", "1 to 10"),
        (" C0001", "spaces"),
        ("C0001 ", "spaces"),
        ("C 0001", "letters and digits"),
        ("C,0001", "letters and digits"),
        ("C\t0001", "letters and digits"),
        ("C\x000001", "letters and digits"),
        ("C-0001", "letters and digits"),
    ],
)
def test_la_child_ids_refused(child: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LocalIdentifiersIn(la_child_id=child)
    (err,) = caught.value.errors()
    assert err["type"] == "la_child_id_invalid" and words in err["msg"]


def test_extra_fields_and_types_refused() -> None:
    with pytest.raises(ValidationError):
        LocalIdentifiersIn.model_validate({"la_child_id": "C1", "nickname": "x"})
    with pytest.raises(ValidationError):
        LocalIdentifiersIn.model_validate({"la_child_id": "C1", "nhs_number": 4010232137})
    with pytest.raises(ValidationError):
        LocalIdentifiersIn.model_validate({"la_child_id": "C1", "local_authority_code": "E0900003300"})
    ok = LocalIdentifiersIn.model_validate(
        {"la_child_id": "C1", "upn": None, "nhs_number": None, "local_authority_code": "E09000033"}
    )
    assert ok.upn is None and ok.local_authority_code == "E09000033"


def test_problem_details_render_clean_messages_with_pointers() -> None:
    body = {"la_child_id": "C1", "upn": "A801200005001", "nhs_number": "4010232138"}
    with pytest.raises(ValidationError) as caught:
        LocalIdentifiersIn.model_validate(body)
    errors = [{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]
    status, _, _, _, rendered = _validation_errors(RequestValidationError(errors))
    assert status == 422
    by_pointer = {e["pointer"]: e for e in rendered}
    assert set(by_pointer) == {"/upn", "/nhs_number"}
    assert by_pointer["/upn"]["code"] == "upn_invalid"
    assert by_pointer["/upn"]["detail"].endswith("check letter should be B")
    assert by_pointer["/nhs_number"]["code"] == "nhs_number_invalid"
    assert not any(e["detail"].lower().startswith("value error") for e in rendered)


# --- Filed through the API -------------------------------------------------------------------------------------

# The database is shared by the whole run: each test takes fresh NHS numbers and councils of its own.
BOLTON, BLACKBURN, BLACKPOOL, WARRINGTON = "E08000001", "E06000008", "E06000009", "E06000007"


def fresh_nhs_number() -> str:
    """A valid NHS number in England's range, unlikely to be used by any other test of the run."""
    while True:
        first = str(random.randint(400_000_000, 499_999_999))
        check = nhs.calculate_checksum(first)
        if check is not None and check < 10:
            return first + str(check)


def council(code: str, sub: str | None = None) -> dict[str, str]:
    return auth(
        "la:read", "la:write", org_type="local_authority", org_name=f"Council {code}", regions=[], la_codes=[code],
        sub=sub or f"ids-{code}-{uuid.uuid4().hex[:6]}",
    )  # fmt: skip


async def identify(stack: Stack, case_id: str, headers: dict[str, str], **body: Any) -> Any:
    return await stack.cases.put(f"/v1/cases/{case_id}/local-identifiers", json=body, headers=headers)


def fresh_child_id(prefix: str) -> str:
    return f"{prefix}{random.randint(0, 10**6):06d}"


async def test_looked_after_and_the_councils_date_of_birth_are_filed_and_never_change_the_service_record(
    stack: Stack,
) -> None:
    estimated = await stack.case(local_authority_code=BOLTON, child__date_of_birth=None, child__estimated_age=15)
    bolton = council(BOLTON)
    child_id = fresh_child_id("B")
    r = await identify(stack, estimated["id"], bolton, la_child_id=child_id, looked_after=True,
                       date_of_birth="2011-05-17")  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["looked_after"], r.json()["date_of_birth"]) == (True, "2011-05-17")
    shown = (await stack.cases.get(f"/v1/cases/{estimated['id']}", headers=bolton)).json()
    assert shown["child"]["date_of_birth"] is None and shown["child"]["estimated_age"] == 15  # the service's record
    assert [(i["la_child_id"], i["looked_after"], i["date_of_birth"]) for i in shown["local_identifiers"]] == [
        (child_id, True, "2011-05-17")
    ]
    staff = (await stack.get(f"/v1/cases/{estimated['id']}")).json()
    assert "2011-05-17" not in str(staff)  # the council's record is its own

    # A PUT replaces: left out, looked_after is false and the date of birth cleared.
    again = await identify(stack, estimated["id"], bolton, la_child_id=child_id)
    assert (again.json()["looked_after"], again.json()["date_of_birth"]) == (False, None)

    tomorrow = (clock.london_date(clock.utcnow()) + timedelta(days=1)).isoformat()
    for bad in (tomorrow, "1985-01-01", "17/05/2011", "2011-02-30", 20110517):
        r = await identify(stack, estimated["id"], bolton, la_child_id=child_id, date_of_birth=bad)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (bad, r.text)
        assert [e["pointer"] for e in r.json()["errors"]] == ["/date_of_birth"], (bad, r.text)
    r = await identify(stack, estimated["id"], bolton, la_child_id=child_id, looked_after="yes")
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/looked_after"


async def test_a_taken_identifier_is_a_409_naming_the_other_case_when_it_is_the_councils_and_no_oracle_otherwise(
    stack: Stack,
) -> None:
    first = (await stack.case(local_authority_code=BLACKBURN))["id"]
    second = (await stack.case(local_authority_code=BLACKBURN))["id"]
    elsewhere = (await stack.case(local_authority_code=BLACKPOOL))["id"]
    blackburn, blackpool = council(BLACKBURN), council(BLACKPOOL)
    child_id, number = fresh_child_id("K"), fresh_nhs_number()
    assert (await identify(stack, first, blackburn, la_child_id=child_id, nhs_number=number)).status_code == 200

    same_id = await identify(stack, second, blackburn, la_child_id=child_id.lower())
    assert same_id.status_code == 409 and same_id.headers["content-type"] == "application/problem+json"
    problem = same_id.json()
    assert problem["other_case_id"] == first and first in problem["detail"]
    assert problem["errors"][0]["pointer"] == "/la_child_id"
    same_nhs = await identify(stack, second, blackburn, la_child_id=fresh_child_id("K"), nhs_number=number)
    assert same_nhs.status_code == 409 and same_nhs.json()["other_case_id"] == first
    assert same_nhs.json()["errors"][0]["pointer"] == "/nhs_number"
    # An NHS number only on another council's child: a refusal would tell Blackpool that this child is known to
    # the service (for any number it tried), so it is filed as asked, answered as any filing is, and the service
    # is told to review the two cases.
    unknown = await identify(
        stack, elsewhere, blackpool, la_child_id=fresh_child_id("P"), nhs_number=fresh_nhs_number()
    )
    foreign = await identify(stack, elsewhere, blackpool, la_child_id=fresh_child_id("P"), nhs_number=number)
    assert (unknown.status_code, foreign.status_code) == (200, 200), foreign.text
    assert set(foreign.json()) == set(unknown.json()) and first not in foreign.text
    assert foreign.json()["nhs_number"] == number
    shown = (await stack.cases.get(f"/v1/cases/{elsewhere}", headers=blackpool)).json()["local_identifiers"]
    assert [i["nhs_number"] for i in shown] == [number]
    audit = await stack.cases.get("/v1/audit", params={"action": "identifiers.nhs_number_shared"},
                                  headers=auth("audit:read", regions=[], sub="auditor"))  # fmt: skip
    assert [(a["resource"], first in a["reason"]) for a in audit.json()["items"]
            if a["resource"] == f"/v1/cases/{elsewhere}"] == [(f"/v1/cases/{elsewhere}", True)]  # fmt: skip
    # Another council's own child id space is its own.
    assert (await identify(stack, elsewhere, blackpool, la_child_id=child_id)).status_code == 200


async def test_two_councils_may_file_one_nhs_number_for_the_same_child(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=10), local_authority_code=BOLTON)
    r = await stack.post(f"/v1/cases/{case['id']}/moves",
                         {"moved_at": (clock.utcnow() - timedelta(days=5)).isoformat(), "local_authority_code": WARRINGTON})  # fmt: skip
    assert r.status_code == 201, r.text
    number = fresh_nhs_number()
    for code in (BOLTON, WARRINGTON):
        r = await identify(stack, case["id"], council(code), la_child_id=fresh_child_id("M"), nhs_number=number)
        assert r.status_code == 200, r.text


async def test_a_council_does_not_learn_what_another_filed_on_a_child_that_was_once_its_own(stack: Stack) -> None:
    """Bolton can still open the case of a child who moved on to Warrington, but Warrington's NHS number for
    that child is not Bolton's to learn: filed on another of Bolton's children it is not refused."""
    moved = await stack.case(received_at=clock.utcnow() - timedelta(days=10), local_authority_code=BOLTON)
    r = await stack.post(f"/v1/cases/{moved['id']}/moves",
                         {"moved_at": (clock.utcnow() - timedelta(days=5)).isoformat(), "local_authority_code": WARRINGTON})  # fmt: skip
    assert r.status_code == 201, r.text
    other = await stack.case(local_authority_code=BOLTON)
    number = fresh_nhs_number()
    assert (await identify(stack, moved["id"], council(WARRINGTON), la_child_id=fresh_child_id("W"),
                           nhs_number=number)).status_code == 200  # fmt: skip
    bolton = council(BOLTON)
    assert (await stack.cases.get(f"/v1/cases/{moved['id']}", headers=bolton)).status_code == 200  # once its own
    r = await identify(stack, other["id"], bolton, la_child_id=fresh_child_id("B"), nhs_number=number)
    assert r.status_code == 200 and moved["id"] not in r.text, r.text


async def test_two_requests_at_once_cannot_both_file_one_identifier(stack: Stack) -> None:
    cases = [(await stack.case(local_authority_code=BLACKBURN))["id"] for _ in range(4)]
    blackburn = council(BLACKBURN)
    child_id, number = fresh_child_id("C"), fresh_nhs_number()
    by_id = await asyncio.gather(*(identify(stack, c, blackburn, la_child_id=child_id) for c in cases[:2]))
    assert sorted(r.status_code for r in by_id) == [200, 409], [r.text for r in by_id]
    by_nhs = await asyncio.gather(
        *(identify(stack, c, blackburn, la_child_id=fresh_child_id("C"), nhs_number=number) for c in cases[2:])
    )
    assert sorted(r.status_code for r in by_nhs) == [200, 409], [r.text for r in by_nhs]
    winner = next(c for c, r in zip(cases[2:], by_nhs, strict=True) if r.status_code == 200)
    assert next(r for r in by_nhs if r.status_code == 409).json()["other_case_id"] == winner


async def test_the_database_itself_refuses_a_second_childs_identifiers(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the application's check (as if two writers slipped by it), the unique index and the exclusion
    constraint refuse; the API still answers a 409 naming the case, never a 500."""
    first, second = [(await stack.case(local_authority_code=BOLTON))["id"] for _ in range(2)]
    bolton = council(BOLTON)
    child_id, number = fresh_child_id("D"), fresh_nhs_number()
    assert (await identify(stack, first, bolton, la_child_id=child_id, nhs_number=number)).status_code == 200

    conn = await asyncpg.connect(plain_url(stack.settings["database_url"]))
    try:
        insert = (
            "INSERT INTO cases.local_identifier (case_id, local_authority_code, la_child_id, nhs_number, updated_at, "
            "updated_by) VALUES ($1, $2, $3, $4, now(), 'test')"
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, uuid.UUID(second), BOLTON, child_id.lower(), None)
    finally:
        await conn.close()

    check = council_repository.child_id_holder
    calls = 0

    async def blind_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls % 2 == 1:  # each request's check before the write sees nothing; its look after a refusal does
            return None
        return await check(*args, **kwargs)

    monkeypatch.setattr(council_repository, "child_id_holder", blind_once)
    r = await identify(stack, second, bolton, la_child_id=child_id)
    assert r.status_code == 409 and r.json()["other_case_id"] == first, r.text
    monkeypatch.undo()
    assert (await stack.cases.get(f"/v1/cases/{second}", headers=bolton)).json()["local_identifiers"] == []


async def test_filing_identifiers_is_a_change_in_the_councils_feed(stack: Stack) -> None:
    code = "E06000001"  # Hartlepool: this test's alone
    case = await stack.case(local_authority_code=code)
    hartlepool = council(code)
    params: dict[str, Any] = {"local_authority_code": code, "changed_since": "2020-01-01T00:00:00Z", "limit": 500}

    async def drain(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        items: list[dict[str, Any]] = []
        while True:
            r = await stack.cases.get("/v1/cases", params={**params, **({"cursor": cursor} if cursor else {})},
                                      headers=hartlepool)  # fmt: skip
            assert r.status_code == 200, r.text
            page = r.json()
            items += page["items"]
            if page["next_cursor"] is None:
                return items, page["poll_cursor"] or cursor
            cursor = page["next_cursor"]

    async def settled() -> None:  # the feed lists only changes no older transaction can still precede
        for _ in range(200):  # up to 20 s: an open transaction elsewhere holds the feed back meanwhile
            seen, _ = await drain(None)
            if any(c["id"] == case["id"] for c in seen):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the case never reached the feed")

    await settled()
    before, cursor = await drain(None)
    [was] = [c for c in before if c["id"] == case["id"]]
    assert was["local_identifiers"] == []
    child_id = fresh_child_id("H")
    assert (await identify(stack, case["id"], hartlepool, la_child_id=child_id, looked_after=True)).status_code == 200
    for _ in range(200):
        new, _ = await drain(cursor)
        if new:
            break
        await asyncio.sleep(0.1)
    assert [c["id"] for c in new] == [case["id"]]
    assert [(i["la_child_id"], i["looked_after"]) for i in new[0]["local_identifiers"]] == [(child_id, True)]
    assert new[0]["changed_at"] > was["changed_at"]


async def test_the_migration_stops_and_names_identifiers_already_filed_for_two_children(infra: Infra) -> None:
    """Before the database kept them unique, one id or NHS number could be filed twice: migration 0006 cannot
    build its constraints over them and names them instead of failing on an index error."""
    url = _with_db(infra.database_url, f"ictg_mig_{uuid.uuid4().hex[:10]}")
    await asyncio.to_thread(ensure_database, url)
    migrations = ROOT / "services" / "case-api" / "migrations"
    try:
        await asyncio.to_thread(upgrade, migrations, url, "0005")
        conn = await asyncpg.connect(plain_url(url))
        first, second = uuid.uuid4(), uuid.uuid4()
        try:  # the rows alone, without their cases: the check reads only the identifiers
            await conn.execute("ALTER TABLE cases.local_identifier DROP CONSTRAINT fk_local_identifier_case_id_case")
            await conn.executemany(
                "INSERT INTO cases.local_identifier (case_id, local_authority_code, la_child_id, nhs_number, "
                "updated_at, updated_by) VALUES ($1, $2, $3, $4, now(), 'test')",
                [(first, BOLTON, "MCR1001", "4010232137"), (second, BOLTON, "mcr1001", "4010232137")],
            )
        finally:
            await conn.close()
        with pytest.raises(RuntimeError) as refused:
            await asyncio.to_thread(upgrade, migrations, url, "0006")
        said = str(refused.value)
        assert f"la_child_id {BOLTON} MCR1001" in said and "nhs_number 4010232137" in said, said
        assert str(first) in said and str(second) in said
    finally:
        await _admin(infra, f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
