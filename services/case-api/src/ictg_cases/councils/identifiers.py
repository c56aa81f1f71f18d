"""Identifiers a council files for a child: its own child id, the UPN, the NHS number.

Errors are raised as `PydanticCustomError` with a type name (`upn_invalid`, ...) so the problem
details handler (ictg_common.errors) renders `msg` as the plain sentence below, never prefixed with
"Value error, ", with `code` = the type name and a JSON pointer to the field.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

import nhs_number
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError
from stdnum.exceptions import InvalidComponent, ValidationError
from stdnum.gb import upn as stdnum_upn

from ictg_common import clock

# UPN check letters: A–Z without I, O, S (python-stdnum's alphabet for them).
UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
UPN_SHAPE = "a UPN is 13 characters: a check letter and 12 digits (the last may be a letter for a temporary UPN)"
UPN_UNKNOWN_CODES = {"UN1", "UN2", "UN3", "UN4", "UN5"}
# Welsh authorities' numbers (660 Isle of Anglesey … 681 Vale of Glamorgan): Welsh pupils have UPNs too, and
# python-stdnum's list of authority numbers is England's alone.
WELSH_LA_NUMBERS = frozenset(range(660, 682))
# NHS numbers are issued in these ranges (the `nhs-number` package's table): England, Wales and the Isle of
# Man; Scotland (CHI); Northern Ireland; the Republic of Ireland. Refused: synthetic/test numbers (9…),
# reserved (5…) and unallocated ones, which no child has.
NHS_ISSUED = (nhs_number.REGION_ENGLAND_WALES_IOM, nhs_number.REGION_SCOTLAND, nhs_number.REGION_NORTHERN_IRELAND,
              nhs_number.REGION_EIRE)  # fmt: skip

# SSDA903 CHILD: the DfE validator has no format rule for it (any text; it upper-cases it on reading);
# the 903 guidance gives up to 10 characters. Allowed here: letters and digits only.
LA_CHILD_ID = re.compile(r"[A-Za-z0-9]{1,10}")


def upn_check_letter(first_twelve: str) -> str:
    """The check letter for characters 2–13 of a UPN (11 digits then a digit or a letter)."""
    return stdnum_upn.calc_check_digit(first_twelve)


def upn_problem(value: str) -> str | None:
    """Why `value` is not a Unique Pupil Number, or None when it is one (the shape in plain words, then
    python-stdnum's checks: the authority number and the check letter)."""
    if value in UPN_UNKNOWN_CODES:
        return f"{value} is an SSDA903 code for an unknown UPN, not a UPN: send null instead"
    if value != value.upper():
        return f"{UPN_SHAPE}; use capital letters"
    if len(value) != 13:
        return f"{UPN_SHAPE}; this one has {len(value)} characters"
    body, last = value[1:12], value[12]
    if not (body.isascii() and body.isdigit()):
        return f"{UPN_SHAPE}; characters 2 to 12 must all be digits"
    if not ((last.isascii() and last.isdigit()) or last in UPN_ALPHABET):
        return f"{UPN_SHAPE}; the last character must be a digit or a capital letter other than I, O or S"
    if value[0] not in UPN_ALPHABET:
        return f"{UPN_SHAPE}; the first character must be a check letter (a capital letter other than I, O or S)"
    try:
        stdnum_upn.validate(value)
    except InvalidComponent:
        if int(value[1:4]) not in WELSH_LA_NUMBERS:
            return f"{UPN_SHAPE}; characters 2 to 4 ({value[1:4]}) are no local authority's number"
    except ValidationError:
        pass  # the check letter: said below with the letter it should be
    expected = upn_check_letter(value[1:])
    if value[0] != expected:
        return f"{UPN_SHAPE}; this one's check letter should be {expected}"
    return None


def nhs_number_problem(value: str) -> str | None:
    """Why `value` is not an NHS number (10 digits, modulus 11 check digit, in a range the NHS issues, by the
    `nhs-number` package), or None when it is one."""
    if len(value) != 10 or not (value.isascii() and value.isdigit()):
        return "an NHS number is exactly 10 digits, with no spaces or other characters"
    if not nhs_number.is_valid(value):
        check = nhs_number.calculate_checksum(value[:9])
        if check is None or check == 10:
            return "not an NHS number: its first 9 digits give a check digit of 10, which no NHS number has"
        return f"not an NHS number: the check digit (the 10th digit) should be {check}"
    if not any(nhs_number.is_valid(value, for_region=region) for region in NHS_ISSUED):
        return (
            "not an NHS number issued to a patient: it is in a range kept for test (synthetic) records, reserved or "
            "unallocated"
        )
    return None


def _upn(value: str) -> str:
    if (problem := upn_problem(value)) is not None:
        raise PydanticCustomError("upn_invalid", "{detail}", {"detail": problem})
    return value


def _nhs_number(value: str) -> str:
    if (problem := nhs_number_problem(value)) is not None:
        raise PydanticCustomError("nhs_number_invalid", "{detail}", {"detail": problem})
    return value


def _la_child_id(value: str) -> str:
    if value != value.strip():
        detail = "the council's child id must not start or end with spaces"
    elif not 1 <= len(value) <= 10:
        detail = f"the council's child id (SSDA903 CHILD) is 1 to 10 characters; this one has {len(value)}"
    elif not LA_CHILD_ID.fullmatch(value):
        detail = "the council's child id (SSDA903 CHILD) may contain only letters and digits"
    else:
        return value
    raise PydanticCustomError("la_child_id_invalid", "{detail}", {"detail": detail})


# A child's date of birth as a council records it: the service serves children (under 18, or whose age is
# disputed), and returns go back to 1990 at most.
EARLIEST_BIRTH = date(1990, 1, 1)


def _iso_date_text(value: object) -> object:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise PydanticCustomError("date_of_birth_invalid", "a date of birth is an ISO date: YYYY-MM-DD", {})
    return value


def _date_of_birth(value: date) -> date:
    today = clock.london_date(clock.utcnow())
    if value > today:
        detail = f"a date of birth cannot be after today ({today.isoformat()})"
    elif value < EARLIEST_BIRTH:
        detail = f"a date of birth before {EARLIEST_BIRTH.isoformat()} is no child's"
    else:
        return value
    raise PydanticCustomError("date_of_birth_invalid", "{detail}", {"detail": detail})


Upn = Annotated[str, AfterValidator(_upn), Field(examples=["B801200005001"])]
NhsNumber = Annotated[str, AfterValidator(_nhs_number), Field(examples=["4010232137"])]
LaChildId = Annotated[str, AfterValidator(_la_child_id), Field(examples=["C0001"])]


class LocalIdentifiersIn(BaseModel):
    """The identifiers a council files for a child: its own id, and optionally UPN, NHS number, whether it looks
    after the child, its own record of the date of birth, and the LA code. Each PUT replaces what the council
    filed before: a field left out is cleared (`looked_after` to false)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    la_child_id: LaChildId = Field(
        description="Your own child id, as `CHILD` in your SSDA903 returns: 1–10 letters or digits."
    )
    upn: Upn | None = Field(
        default=None,
        description="Unique Pupil Number: a check letter (validated) and 12 digits, the last of which may be a letter "
        "for a temporary UPN. Null or omitted when unknown (not UN1–UN5).",
    )
    nhs_number: NhsNumber | None = Field(
        default=None,
        description="NHS number: 10 digits, no spaces, modulus 11 check digit validated. Null or omitted when unknown.",
    )
    local_authority_code: Annotated[str, Field(max_length=9)] | None = Field(
        default=None,
        description="ONS code of the authority of yours filing them; needed only when the child was yours under "
        "more than one of your codes.",
    )
    looked_after: bool = Field(
        default=False,
        description="Whether you look after the child (a child in your care). The SSDA903 Missing export and "
        "Annex A List 8 include only the children you look after unless asked for all.",
    )
    date_of_birth: (
        Annotated[date, BeforeValidator(_iso_date_text), AfterValidator(_date_of_birth), Field(strict=False)] | None
    ) = Field(
        default=None,
        description="The date of birth you record for the child (ISO date). Used only in your own exports, and only "
        "when the service has an estimated age alone; it never changes the service's record of the child.",
        examples=["2010-03-04"],
    )
