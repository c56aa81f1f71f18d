"""CSV output of every measure: tidy CSV, and a file name that says what the file holds."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Sequence
from typing import Any

from ..disclosure.discloser import Discloser

WITHHELD = "c"  # how CSV writes a withheld cell (the ONS convention)


def _cell(row: dict[str, Any], column: str) -> Any:
    value = row.get(column)
    if value is None:
        return WITHHELD if column in row.get("withheld_fields", ()) else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """Tidy CSV: one header row, one row per cell, no total row; a withheld value is written `c`, a value
    that does not apply (a median of no cases) is empty, zero is `0`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row, c) for c in columns])
    return buf.getvalue()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def csv_filename(
    measure: str, echo: dict[str, Any], *, as_of: str, group_by: Sequence[str], d: Discloser, mode: str | None = None
) -> str:
    """A file name that says what the file holds: measure, grouping, filters, as_of and disclosure,
    e.g. `ictg-children_by-gender_nationality-VN_as-of-2026-12-03_perturb-ictg_noise_d5.csv`."""
    parts = [f"ictg-{measure}"]
    if group_by:
        parts.append("by-" + "-".join(group_by))
    for k, v in echo.items():
        parts.append(f"{k}-{'+'.join(map(str, v)) if isinstance(v, list) else v}")
    parts.append(f"as-of-{as_of}")
    parts.append(mode or (f"perturb-{d.ptable.name}" if d.perturbs else "unperturbed"))  # mode: e.g. dp-epsilon-0.5
    name = _UNSAFE.sub("_", "_".join(parts))
    if len(name) > 150:  # keep within file system limits; the headers carry the whole query
        name = name[:130] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return name + ".csv"
