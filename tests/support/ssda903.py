"""The DfE SSDA903 validator (`csc-validator-be-903`, package `lac_validator`) as a test oracle for
the Missing table (columns CHILD, DOB, MISSING, MIS_START, MIS_END; dates dd/mm/yyyy).

`missing_table_errors(csv_text)` runs the validator's own entry point (`LacValidator`, which reads
uploaded CSV text through `ingress.read_from_text`, exactly as the DfE tool does) with only the rules
that concern the Missing table, and returns one string per failing row and rule.

The validator needs pandas<2 and numpy<1.25; the platform runs pandas 2 (gptables needs >=2.3.2). So
it lives in its own virtual environment, `.venv-903` (`make .venv-903/.installed-stamp`, which `make`
builds before the main one; pins in requirements-903.lock), and runs there in a subprocess:
`ssda903_run.py` beside this file reads the tables as JSON on stdin and prints the errors as JSON.
The test process never imports `lac_validator`, pandas 1.5 or its warnings.

The Header table, given or synthesised:
- `header=`: the council's own Header (CHILD, SEX, DOB, ETHNIC, UPN, MOTHER, MC_DOB, as in its SSDA903
  return; only CHILD and DOB need values, since Header rules are not run). This is the real check of a
  Missing export merged into the council's return: INT04 ("child in Missing does not exist in Header")
  fails for a child the Header does not hold (a child the council does not look after), INT13 ("DOB in
  Missing differs from DOB in Header") for a date of birth that is not the council's.
- Without it, a Header with one row per distinct CHILD of the Missing table, DOB copied from that
  child's first Missing row, every other column blank. Two Missing rules (INT04, INT13) skip
  themselves without a Header table. Because this Header is built from the Missing rows, INT04 can
  never fail, and INT13 fails only when the same child has different DOBs on different Missing rows.
- Metadata `{"collectionYear": collection_year}`: the validator derives the collection window
  01/04/(year-1)–31/03/(year) from it (rules 570, 571), and the rule set is picked by the same year
  ("2026" → rules for 2025/26).

Not run, because they need real data this helper does not have (synthesising it would make the
oracle check invented data): 575, 577, 578, 580, 581 (need the Episodes table: DECOM, DEC, REC, LS)
and 576 (needs last year's Missing table).

Note that the validator upper-cases every string cell on reading, so "m" counts as "M".
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR_PYTHON = ROOT / ".venv-903" / "bin" / "python"
RUNNER = Path(__file__).with_name("ssda903_run.py")

MISSING_COLUMNS = ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"]
HEADER_COLUMNS = ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"]

# Rules that look at the Missing table and can run with it plus the synthesised Header.
MISSING_RULES = [
    "1004",  # MIS_START blank or not a valid dd/mm/yyyy date
    "1005",  # MIS_END given but not a valid dd/mm/yyyy date
    "1006",  # MISSING not M or A (blank allowed here; 564-566 cover blanks)
    "564",  # MISSING is M/A but MIS_START blank
    "565",  # MIS_START given but MISSING blank
    "566",  # MIS_END given but MISSING blank
    "567",  # MIS_END before MIS_START
    "570",  # MIS_START after the end of the collection year
    "571",  # MIS_END before the start or after the end of the collection year
    "574",  # a period starts while the child's previous one is still open, or periods overlap
    "586",  # MIS_START on or before DOB
    "INT04",  # CHILD in Missing not in Header
    "INT13",  # DOB in Missing differs from DOB in Header
]


def _header_csv(missing_csv: str) -> str:
    rows = list(csv.DictReader(io.StringIO(missing_csv)))
    first_dob: dict[str, str] = {}
    for row in rows:
        first_dob.setdefault(row["CHILD"], row["DOB"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER_COLUMNS)
    for child, dob in first_dob.items():
        writer.writerow([child, "", dob, "", "", "", ""])
    return out.getvalue()


def header_csv(rows: list[dict[str, str]]) -> str:
    """A council's Header table as CSV text from rows of its columns (CHILD, DOB, ...; others left blank)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def missing_table_errors(csv_text: str, *, collection_year: str = "2026", header: str | None = None) -> list[str]:
    """Run the DfE rules concerning the Missing table on `csv_text` (with a header line), merged with the
    council's Header table `header` (CSV text with a header line; see `header_csv`) or, without one, a Header
    synthesised from the Missing rows.

    Returns `"<code>: <message> (row <n>, CHILD <id>)"` per failure, `n` counting data rows from 1;
    empty when the table passes. Raises if a selected rule crashed or skipped itself, so a silent
    non-check can never look like a pass.
    """
    if not VALIDATOR_PYTHON.exists():
        raise RuntimeError(
            f"the DfE validator's environment is missing ({VALIDATOR_PYTHON.relative_to(ROOT)}): "
            "run `make .venv-903/.installed-stamp`"
        )
    request = {
        "collection_year": collection_year,
        "rules": MISSING_RULES,
        "files": [
            {"name": "missing.csv", "text": csv_text},
            {"name": "header.csv", "text": header if header is not None else _header_csv(csv_text)},
        ],
    }
    done = subprocess.run(
        [str(VALIDATOR_PYTHON), "-I", str(RUNNER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the DfE validator exited with {done.returncode}:\n{done.stderr[-4000:]}")
    answer = json.loads(done.stdout)
    if "problem" in answer:
        raise RuntimeError(answer["problem"])
    errors: list[str] = answer["errors"]
    return errors
