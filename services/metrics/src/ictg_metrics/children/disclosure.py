"""Disclosure control (DESIGN.md §9) and CSV output for every measure.

`suppress` (default): a count of 1–4 becomes null and its row says `"suppressed": true`;
`round`: every count to the nearest 5; `none`: as counted (scope metrics:read:unsuppressed).
A statistic (median, share…) of a suppressed group is withheld with it: it would disclose the group;
and so is a statistic of a group of 1–4 whatever its count is published as (`disclose_statistics`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Literal

from ..disclosure.cellkey import Ptable

Disclosure = Literal["suppress", "round", "none"]
# The cell key method, so far for the children measure only (issue 12 moves every measure to it and
# makes it the default); caseload and timeliness refuse it (422) rather than publish true counts.
ChildrenDisclosure = Literal["suppress", "round", "none", "perturb"]
CELL_KEY_PREFIX = "_ck_"  # a raw row's cell key of a count: `_ck_<count>` (never published)
SUPPRESSED = "c"  # how CSV writes a suppressed cell (the ONS convention)


def perturb(count: int, cell_key: int, ptable: Ptable) -> tuple[int | None, bool]:
    """The cell key method (DESIGN §9): (value, withheld)."""
    value = ptable.perturb(count, cell_key)
    return value, value is None


def perturb_row(row: dict[str, Any], counts: Sequence[str], ptable: Ptable) -> dict[str, Any]:
    """`row` with each of its `counts` perturbed by its cell key (`_ck_<count>`); withheld counts are
    null and the row says `"suppressed": true`, as under `suppress`."""
    out = {k: v for k, v in row.items() if not k.startswith(CELL_KEY_PREFIX)}
    hidden = []
    for key in counts:
        out[key], withheld = perturb(int(row[key]), int(row[CELL_KEY_PREFIX + key]), ptable)
        if withheld:
            hidden.append(key)
    if hidden:
        out["suppressed"] = True
        if len(counts) > 1:
            out["suppressed_fields"] = hidden
    return out


def without_cell_keys(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith(CELL_KEY_PREFIX)}


def disclose(count: int, mode: Disclosure) -> tuple[int | None, bool]:
    """A published count: (value, suppressed). 1–4 is suppressed; `round` rounds to the nearest 5."""
    if mode == "suppress" and 1 <= count <= 4:
        return None, True
    if mode == "round":
        return int(5 * ((count + 2.5) // 5)), False
    return count, False


def disclose_row(
    row: dict[str, Any], counts: Sequence[str], mode: Disclosure, *, withheld: Sequence[str] = ()
) -> dict[str, Any]:
    """`row` with each of its `counts` disclosed; `withheld` fields go null when the first count is suppressed."""
    out = dict(row)
    hidden: list[str] = []
    for key in counts:
        out[key], suppressed = disclose(int(row[key]), mode)
        if suppressed:
            hidden.append(key)
    if counts and counts[0] in hidden:
        for key in withheld:
            out[key] = None
            hidden.append(key)
    if hidden:
        out["suppressed"] = True
        if len(counts) > 1 or withheld:
            out["suppressed_fields"] = hidden
    return out


def disclose_statistics(
    row: dict[str, Any], counts: Sequence[str], mode: Disclosure, *, statistics: Sequence[tuple[str, Sequence[str]]]
) -> dict[str, Any]:
    """`disclose_row` for a row that also holds statistics: `statistics` pairs each count with the
    fields computed over the group it counts (e.g. `("children", ["met_deadline"])`).

    All of them are withheld when the first count is suppressed. And unless `mode` is `none`, the
    statistics of a group of 1–4 are withheld whatever its count is published as (rounded to 5, or
    shown beside a total): a median of three children discloses them."""
    out = disclose_row(row, counts, mode, withheld=[f for _, fields in statistics for f in fields])
    if mode == "none":
        return out
    small = [f for count, fields in statistics if 1 <= int(row[count]) <= 4 for f in fields]
    hide = [f for f in small if out.get(f) is not None]
    if hide:
        out.update(dict.fromkeys(hide))
        out["suppressed"] = True
        out["suppressed_fields"] = [*out.get("suppressed_fields", []), *hide]
    return out


def complementary(rows: list[dict[str, Any]], key: str) -> None:
    """Secondary suppression: when exactly one cell is suppressed, the total minus the others would
    give it back, so the smallest other non-empty cell is suppressed with it (in place)."""
    hidden = [r for r in rows if r.get("suppressed")]
    if len(hidden) != 1:
        return
    shown = [r for r in rows if not r.get("suppressed") and r.get(key)]
    if shown:
        smallest = min(shown, key=lambda r: r[key])
        smallest[key] = None
        smallest["suppressed"] = True


def _cell(row: dict[str, Any], column: str, counts: Sequence[str]) -> Any:
    value = row.get(column)
    hidden = row.get("suppressed_fields") or (counts if row.get("suppressed") else ())
    if value is None:
        return SUPPRESSED if column in hidden else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def to_csv(columns: list[str], rows: list[dict[str, Any]], *, counts: Sequence[str]) -> str:
    """CSV with a header row; a suppressed count or withheld statistic is written `c`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row, c, counts) for c in columns])
    return buf.getvalue()
