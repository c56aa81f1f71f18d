"""Runs the DfE SSDA903 validator inside its own virtual environment (.venv-903, pandas<2); started by
tests/support/ssda903.py as `.venv-903/bin/python -I tests/support/ssda903_run.py`, never imported.

Reads one JSON object on stdin:
    {"collection_year": "2026", "rules": ["1004", ...],
     "files": [{"name": "missing.csv", "text": "CHILD,DOB,..."}, ...]}
and prints one JSON object on stdout: `{"errors": [...]}` (one string per failing row and rule, as
`missing_table_errors` returns them), or `{"problem": "..."}` when a rule is absent from the year's
rule set, crashed or skipped itself. Only the standard library and the validator's own environment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import warnings
from typing import Any


def run(request: dict[str, Any]) -> dict[str, Any]:
    # The validator's code warns under pandas 1.5 (FutureWarning, SettingWithCopyWarning); noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lac_validator.lac_validator import LacValidator
        from lac_validator.rules.ruleset_utils import get_year_ruleset

        # The validator configures root logging at INFO on import; keep the output readable.
        logging.getLogger("lac_validator").setLevel(logging.WARNING)
        year, rules = request["collection_year"], request["rules"]
        registry = get_year_ruleset(year)
        absent = [code for code in rules if code not in registry]
        if absent:
            return {"problem": f"rule set {year} has no rules {absent}"}
        files = [
            {"name": f["name"], "description": "This year", "file_content": f["text"].encode()}
            for f in request["files"]
        ]
        v = LacValidator(metadata={"collectionYear": year}, files=files, registry=registry, selected_rules=rules)
    if v.fails or v.skips:
        return {"problem": f"validator rules failed to run: {v.fails}; skipped: {v.skips}"}
    table = v.ds_results["Missing"]
    errors = []
    for code in rules:
        column = f"ERR_{code}"
        if column not in table.columns:
            continue
        for index in table.index[table[column].eq(True)]:
            child = table.at[index, "CHILD"]
            errors.append(f"{code}: {registry[code].message} (row {index + 1}, CHILD {child})")
    return {"errors": errors}


def main() -> None:
    request = json.load(sys.stdin)
    # Anything the validator prints goes to stderr: stdout carries the one JSON answer.
    with contextlib.redirect_stdout(sys.stderr):
        answer = run(request)
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
