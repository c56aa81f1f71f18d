"""The DfE SSDA903 validator, run as an oracle on Missing tables (see tests/support/ssda903.py)."""

from __future__ import annotations

from tests.support.ssda903 import header_csv, missing_table_errors

GOOD = """CHILD,DOB,MISSING,MIS_START,MIS_END
C0001,14/02/2010,M,03/05/2025,05/05/2025
C0001,14/02/2010,A,10/09/2025,
C0002,01/12/2012,M,20/01/2026,22/01/2026
"""

BAD = """CHILD,DOB,MISSING,MIS_START,MIS_END
C0001,14/02/2010,M,10/06/2025,08/06/2025
C0002,01/12/2012,X,20/01/2026,22/01/2026
C0003,05/05/2011,M,31/02/2026,
"""


def test_a_good_missing_table_passes() -> None:
    assert missing_table_errors(GOOD, collection_year="2026") == []


def test_a_bad_missing_table_names_the_rules() -> None:
    errors = missing_table_errors(BAD, collection_year="2026")
    codes = {e.split(":")[0] for e in errors}
    assert "567" in codes  # MIS_END before MIS_START (row 1)
    assert "1006" in codes  # MISSING = X (row 2)
    assert "1004" in codes  # 31/02/2026 is no date (row 3)
    assert any(e.startswith("567:") and "row 1" in e for e in errors)
    assert any(e.startswith("1006:") and "row 2" in e for e in errors)
    assert any(e.startswith("1004:") and "row 3" in e for e in errors)


def test_a_councils_own_header_catches_children_it_does_not_hold_and_other_dates_of_birth() -> None:
    header = header_csv([{"CHILD": "C0001", "DOB": "14/02/2010"}, {"CHILD": "C0002", "DOB": "02/12/2012"}])
    errors = missing_table_errors(GOOD, collection_year="2026", header=header)
    assert sorted(e.split(":")[0] + " " + e.split("(")[-1] for e in errors) == [
        "INT13 row 3, CHILD C0002)",  # the Header's DOB is 02/12/2012
    ]
    header = header_csv([{"CHILD": "C0001", "DOB": "14/02/2010"}])
    errors = missing_table_errors(GOOD, collection_year="2026", header=header)
    assert [e.split(":")[0] for e in errors] == ["INT04"] and "CHILD C0002" in errors[0]
    both = header_csv([{"CHILD": "C0001", "DOB": "14/02/2010"}, {"CHILD": "C0002", "DOB": "01/12/2012"}])
    assert missing_table_errors(GOOD, collection_year="2026", header=both) == []
