"""A release as a spreadsheet in the Analysis Function's layout: a cover sheet, contents, notes, one table
per sheet with its title in A1 and no merged cells, `[c]` withheld and `[x]` not applicable, units in the
headers, shares as percentages to the precision their counts allow, and a column saying whether each
period was complete at the release's as-at date.

One model (`Workbook`), written two ways: `.xlsx` by ONS's `gptables` (which lays it out, numbers the notes
and writes the contents sheet), `.ods` (the government's open standard) by `odswriter`, cell for cell the
same text. Only a release's stored, published values go in: nothing is counted here.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from .catalogue import CATALOGUE, TABLES, Table
from .columns import Column, columns_of, deadline_of, percentage
from .periods import all_partial, partial_periods, period_column, period_words

WITHHELD = "[c]"
NOT_APPLICABLE = "[x]"
TOTAL = "Total"
STATUS_HEADER = "Period status"
INSTRUCTIONS = "This worksheet contains one table. Some cells refer to notes which can be found in the notes worksheet."
LEGEND = ("[c] = withheld to protect confidentiality (a published value under 10, or an empty cell)",
          "[x] = not applicable (nothing to measure, or no one decided)")  # fmt: skip
NOTE_REF = re.compile(r"\$\$(\w+)\$\$")
REVISIONS_POLICY = (
    "Each release is computed once, as at the end of its month, and never changed. A later release counts "
    "everything again as at its own month's end: late records, corrections and exits recorded after the fact "
    "can change an earlier period's figures. Every value of an earlier period that a release publishes "
    "differently from the release before it is listed in its revision notes (the Revisions sheet, and "
    "`revisions` in the release's JSON). Periods still running at a release's as-at date are marked partial "
    "and will change."
)


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its title (A1), lines under it, and its table (header and rows)."""

    name: str
    title: str
    lines: tuple[str, ...]
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    description: str = ""  # for the contents sheet (default: the title)
    source: str = ""


@dataclass(frozen=True)
class Workbook:
    title: str
    intro: tuple[str, ...]
    about: tuple[str, ...]
    contact: tuple[str, ...]
    notes: dict[str, str]  # reference → text; referenced from the sheets' lines as $$reference$$
    sheets: tuple[Sheet, ...]
    filename: str


def _cell_value(table: Table, col: Column, row: dict[str, Any]) -> Any:
    withheld = row.get("withheld_fields") or ()
    if col.role == "share":
        x = deadline_of(col.name)
        met, decided = row.get(f"{x}_deadline_met"), row.get(f"{x}_deadline_decided")
        value = percentage(met, decided)
        if value is None:
            return WITHHELD if (col.name in withheld or met is None or decided is None) else NOT_APPLICABLE
        return value
    value = row.get(col.name)
    if col.role in ("count", "quantile"):
        if value is None:
            return WITHHELD if col.name in withheld or col.role == "count" else NOT_APPLICABLE
        return value
    if col.role == "dimension":
        return col.label(value)
    return NOT_APPLICABLE if value is None else value


def table_sheet_columns(table: Table, body: dict[str, Any]) -> list[Column]:
    """The columns a table's sheet shows, in order: its published columns, shares of timeliness included."""
    return columns_of(table, list(body["columns"]))


def table_rows(table: Table, body: dict[str, Any], *, as_at: date) -> tuple[list[str], list[list[Any]]]:
    """A published table as a worksheet's header and rows: the cells, then each period's total and the grand
    total (each perturbed on its own), with the period's status beside its period."""
    columns = table_sheet_columns(table, body)
    period = period_column(table)
    header: list[str] = []
    for col in columns:
        header.append(col.header)
        if col.name == period:
            header.append(STATUS_HEADER)

    def shape(row: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for col in columns:
            out.append(_cell_value(table, col, row) if col.name in row or col.role == "share" else TOTAL)
            if col.name == period:
                out.append(period_words(table, row.get(period), as_at=as_at) if period in row else TOTAL)
        return out

    rows = [shape(r) for r in body["rows"]]
    rows += [shape(m) for m in body.get("margins", [])]
    if "total" in body:
        rows.append(shape(body["total"]))
    return header, rows


def _table_sheet(n: int, table: Table, body: dict[str, Any], *, release: str, as_at: date) -> Sheet:
    header, rows = table_rows(table, body, as_at=as_at)
    lines = [f"Release {release}: figures as at {as_at.day} {as_at:%B %Y}", "Coverage: England and Wales"]
    lines.append("Counts are perturbed by the cell key method for disclosure control $$perturbation$$")
    if "margins" in body or "total" in body:
        lines.append(
            f"Rows marked {TOTAL} are totals, perturbed on their own: cells need not add up to them $$totals$$"
        )
    if table.measure == "timeliness":
        lines.append(
            "Times are rounded to whole days or hours, published only beside at least 10 children $$quantiles$$"
        )
    if partial_periods(table, body["rows"], as_at=as_at):
        lines.append("Periods not over at the as-at date are marked partial and will change $$partial$$")
    lines.append("Figures of earlier periods may be revised by later releases $$revisions$$")
    description = table.description or table.title
    return Sheet(f"Table_{n}", f"{table.title}, release {release}", tuple(lines), tuple(header),
                 tuple(tuple(r) for r in rows), description=description,
                 source="Source: the ICTG service's case records")  # fmt: skip


def _revisions_sheet(n: int, release: str, previous: str, revisions: list[dict[str, Any]]) -> Sheet:
    header = ("Table", "Row", "Cell", "Value", "Published in the previous release", "Published in this release")
    rows = []
    for r in revisions:
        cell = "; ".join(f"{k} {v}" for k, v in r["cell"].items())
        rows.append((TABLES[r["table"]].title if r["table"] in TABLES else r["table"],
                     "total" if r["row"] == "margin" else r["row"], cell, r["field"],
                     WITHHELD if r["previous"] is None else r["previous"],
                     WITHHELD if r["current"] is None else r["current"]))  # fmt: skip
    return Sheet(f"Table_{n}", f"Revisions: values of earlier periods published differently from release {previous}",
                 (f"Release {release} against release {previous} $$revisions$$",), header, tuple(rows),
                 description="Each value of a period already over at the previous release that this release "
                 "publishes differently", source="Source: the releases as stored")  # fmt: skip


def build(release: Any, tables: dict[str, dict[str, Any]], *, contact: str) -> Workbook:
    """The workbook of a stored release (`release`: its row: name, as-at date, disclosure, revisions)."""
    as_at: date = release.as_at
    pt = release.disclosure.get("ptable", {})
    sheets = [
        _table_sheet(n, t, tables[t.id], release=release.release, as_at=as_at)
        for n, t in enumerate((t for t in CATALOGUE if t.id in tables), start=1)
    ]
    if release.previous and release.revisions:
        sheets.append(_revisions_sheet(len(sheets) + 1, release.release, release.previous, release.revisions))
    partial = all_partial(tables, as_at=as_at)
    notes = {
        "perturbation": (
            f"Disclosure control: every count is perturbed by the cell key method with the ptable "
            f"{pt.get('name')} (threshold {pt.get('threshold')}: a perturbed value under it is withheld, "
            f"shown [c]; noise of at most ±{pt.get('max_noise')}, mean 0, variance {pt.get('variance')}). "
            "Empty cells are listed and withheld like cells of 1 to 9, so 0 and a few look alike."
        ),
        "totals": "Totals and each period's total are perturbed with their own cell keys, independently of their "
        "cells: the cells need not add up to them, and subtracting cells from a total does not give a withheld cell.",
        "quantiles": "Medians and percentiles are rounded to whole days (referral delay, days to first contact) or "
        "whole hours (allocation, first contact), and published only where the count they describe is published "
        "at 10 or more. Shares are met / decided from the published counts, shown as percentages: whole "
        "percentages under 1,000 children decided, one decimal place from 1,000.",
        "partial": "Partial periods: a period not over at the release's as-at date covers only the part up to it "
        f"(in this release: {', '.join(partial) if partial else 'none'}); its figures will change in later releases.",
        "revisions": REVISIONS_POLICY,
    }
    used = {m for s in sheets for line in s.lines for m in NOTE_REF.findall(line)}
    notes = {k: v for k, v in notes.items() if k in used}
    revised = (f"{len(release.revisions)} values of earlier periods were revised against release {release.previous} "
               "(the Revisions sheet)." if release.revisions else
               f"No value of an earlier period was revised against release {release.previous}." if release.previous
               else "This is the first release: there is nothing earlier to revise.")  # fmt: skip
    return Workbook(
        title=f"Independent Child Trafficking Guardian service statistics: release {release.release}",
        intro=(
            f"Children referred to the Independent Child Trafficking Guardian (ICTG) service in England and "
            f"Wales, and their support: figures as at {as_at.day} {as_at:%B %Y}, published "
            f"{release.published_at:%d %B %Y}.",
            "Each table is on a sheet of its own; the contents sheet lists them and the notes sheet explains "
            "the symbols and methods.",
        ),
        about=(
            f"Disclosure control: cell key perturbation with the ptable {pt.get('name')}; threshold "
            f"{pt.get('threshold')}; maximum noise ±{pt.get('max_noise')}; noise variance {pt.get('variance')}.",
            f"Revisions policy: {REVISIONS_POLICY}",
            revised,
            f"Partial periods in this release: {', '.join(partial) if partial else 'none'}.",
        ),
        contact=(contact,),
        notes=notes,
        sheets=tuple(sheets),
        filename=f"ictg-statistics-release-{release.release}",
    )


def note_numbers(book: Workbook) -> dict[str, int]:
    """Each note's number: the order of its first reference, sheet by sheet (as gptables numbers them)."""
    order: dict[str, None] = {}
    for sheet in book.sheets:
        for line in sheet.lines:
            for ref in NOTE_REF.findall(line):
                order.setdefault(ref, None)
    return {ref: n for n, ref in enumerate(order, start=1)}


def to_xlsx(book: Workbook) -> bytes:
    """The workbook as `.xlsx`, laid out by gptables."""
    import gptables as gpt  # heavy (pandas): imported when a workbook is first asked for
    import pandas as pd

    sheets = {
        s.name: gpt.GPTable(
            table=pd.DataFrame(list(s.rows), columns=list(s.header), dtype=object),
            table_name=s.name.lower(),
            title=s.title,
            subtitles=list(s.lines),
            instructions=INSTRUCTIONS,
            legend=list(LEGEND),
            source=s.source,
        )
        for s in book.sheets
    }
    numbers = note_numbers(book)
    notes = pd.DataFrame({"Note number": list(numbers),
                          "Note text": [book.notes[ref] for ref in numbers]})  # fmt: skip
    buf = io.BytesIO()
    workbook = gpt.produce_workbook(
        filename=buf,  # XlsxWriter writes to a file object as well as a path
        sheets=sheets,
        cover=gpt.Cover(title=book.title, intro=list(book.intro), about=list(book.about), contact=list(book.contact)),
        notes_table=notes,
        contentsheet_options={"additional_elements": []},
    )
    workbook.close()
    return buf.getvalue()


def _with_notes(text: str, numbers: dict[str, int]) -> str:
    return NOTE_REF.sub(lambda m: f"[note {numbers[m[1]]}]", text)


def to_ods(book: Workbook) -> bytes:
    """The workbook as `.ods`, the same sheets and text as the `.xlsx`."""
    import odswriter

    numbers = note_numbers(book)
    buf = io.BytesIO()
    with odswriter.writer(buf) as ods:
        cover = ods.new_sheet("Cover")
        cover.writerow([book.title])
        for heading, lines in (("Introductory information", book.intro), ("About these data", book.about),
                               ("Contact", book.contact)):  # fmt: skip
            cover.writerow([heading])
            for line in lines:
                cover.writerow([line])
        contents = ods.new_sheet("Contents")
        contents.writerow(["Table of contents"])
        contents.writerow(["This worksheet contains one table."])
        contents.writerow(["Sheet name", "Table description"])
        for s in book.sheets:
            contents.writerow([s.name, s.title])
        notes = ods.new_sheet("Notes")
        notes.writerow(["Notes"])
        notes.writerow(["This worksheet contains one table."])
        notes.writerow(["Note number", "Note text"])
        for ref, n in numbers.items():
            notes.writerow([n, book.notes[ref]])
        for s in book.sheets:
            sheet = ods.new_sheet(s.name)
            for line in (s.title, *s.lines, INSTRUCTIONS, *LEGEND, s.source):
                sheet.writerow([_with_notes(line, numbers)])
            sheet.writerow(list(s.header))
            for row in s.rows:
                sheet.writerow(list(row))
    return buf.getvalue()


FORMATS = {
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", to_ods),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", to_xlsx),
}
