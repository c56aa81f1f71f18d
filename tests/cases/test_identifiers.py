"""Council identifiers: la_child_id, UPN (DfE check letter), NHS number (modulus 11)."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ictg_cases.councils.identifiers import LocalIdentifiersIn, nhs_number_problem, upn_check_letter, upn_problem
from ictg_common.errors import _validation_errors

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
