"""A release for people (`releases/workbook.py`, `releases/metadata.py`): the workbook in the Analysis
Function's layout (ODS and XLSX), read back as an analyst would (pandas with the `odf` and `openpyxl`
engines, LibreOffice), its every cell a published value of the release's JSON; the data package that
describes each table's CSV, checked by the Frictionless validator; partial periods and revisions said."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from ictg_metrics.disclosure.cellkey import DEFAULT_PTABLE
from tests.support.publication import READER, RELEASE, published_release, release_json

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
MEDIA = {"ods": "application/vnd.oasis.opendocument.spreadsheet",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip
ENGINE = {"ods": "odf", "xlsx": "openpyxl"}


def _text(value: Any) -> str:
    """A cell as text, whichever engine read it: 12 and 12.0 alike, empty as ''."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sheets(data: bytes, fmt: str) -> dict[str, list[list[str]]]:
    frames = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, engine=ENGINE[fmt], keep_default_na=False)
    out = {}
    for name, frame in frames.items():
        rows = [[_text(v) for v in row] for row in frame.itertuples(index=False)]
        out[str(name)] = [r[: max((i + 1 for i, v in enumerate(r) if v), default=0)] for r in rows]
    return out


def _labels(dictionary: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each dimension's value → label, from the data dictionary the API publishes."""
    out = {}
    for d in dictionary["dimensions"]:
        out[d["name"]] = {json.dumps(v["value"]): v["label"] for v in d["values"] or []}
    return out


def _expected_cell(column: str, row: dict[str, Any], labels: dict[str, dict[str, str]]) -> str:
    """What the workbook must show for one published value: independent of the workbook's own code."""
    withheld = set(row.get("withheld_fields") or ())
    if column.startswith("met_") and column.endswith("_deadline"):
        x = column[4:-9]
        met, decided = row.get(f"{x}_deadline_met"), row.get(f"{x}_deadline_decided")
        if met is None or decided is None:
            return "[c]"
        if decided == 0:
            return "[x]"
        places = 0 if decided < 1000 else 1
        share = round(100 * min(met / decided, 1.0), places)
        return _text(float(share))
    value = row.get(column)
    if labels.get(column) and f"{column}_name" not in row:  # coded: its label; a place: its code and name
        return labels[column].get(json.dumps(value), "Not recorded" if value is None else str(value))
    if value is None:
        return "[c]" if column in withheld else "[x]"
    return _text(value)


def _find_header(rows: list[list[str]], first: str) -> int:
    return next(i for i, r in enumerate(rows) if r and r[0] == first)


@pytest.mark.timeout(300)
async def test_the_workbook_holds_the_release_as_published_in_both_formats(
    shared_settings: dict[str, Any], tmp_path: Path
) -> None:
    async with published_release(shared_settings) as client:
        release, tables = await release_json(client)
        labels = _labels((await client.get("/v1/metrics/dimensions", headers=READER)).json())
        books = {}
        for fmt in ("ods", "xlsx"):
            r = await client.get(f"/v1/releases/{RELEASE}/workbook.{fmt}", headers=READER)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == MEDIA[fmt]
            assert f"ictg-statistics-release-{RELEASE}.{fmt}" in r.headers["content-disposition"]
            books[fmt] = r.content
            (tmp_path / f"book.{fmt}").write_bytes(r.content)
        await _check_data_package(client, tmp_path / "package", release, tables)
        bad = await client.get(f"/v1/releases/{RELEASE}/workbook.pdf", headers=READER)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert (await client.get(f"/v1/releases/{RELEASE}/workbook.ods")).status_code == 401

    ods, xlsx = _sheets(books["ods"], "ods"), _sheets(books["xlsx"], "xlsx")
    # The same sheets, cell for cell, in both formats.
    assert list(ods) == list(xlsx)
    assert list(ods)[:3] == ["Cover", "Contents", "Notes"]
    for name in ods:
        assert ods[name] == xlsx[name], name

    # The cover says how the figures were protected, with the ptable's own parameters.
    pt = DEFAULT_PTABLE.describe()
    cover = " ".join(" ".join(r) for r in ods["Cover"])
    assert ods["Cover"][0][0].endswith(f"release {RELEASE}")
    for words in (pt["name"], f"threshold {pt['threshold']}", f"±{pt['max_noise']}", f"variance {pt['variance']}",
                  "Revisions policy", "as at 30 November 2025", "The ICTG service's statistics team"):  # fmt: skip
        assert words in cover, words
    assert "Partial periods in this release: 2025, 2025-26, 2025-Q4." in cover

    # Contents list every table sheet with its title; one table per sheet, its title in A1.
    contents = ods["Contents"]
    listed = {r[0]: r[1] for r in contents[_find_header(contents, "Sheet name") + 1 :]}
    assert len(listed) == len(release["tables"])
    for n, t in enumerate(release["tables"], start=1):
        sheet = ods[f"Table_{n}"]
        assert sheet[0] == [f"{t['title']}, release {RELEASE}"] and listed[f"Table_{n}"] == sheet[0][0]
        body = tables[t["id"]]
        names = [c for c in body["columns"]]
        start = _find_header(sheet, sheet[_find_header_row_of(sheet, len(names))][0])
        header, data = sheet[start], sheet[start + 1 :]
        assert "Period status" in header and all(h for h in header)
        period_at = header.index("Period status") - 1
        published_rows = [*body["rows"], *body.get("margins", []), *([body["total"]] if "total" in body else [])]
        assert len(data) == len(published_rows), t["id"]
        for shown, row in zip(data, published_rows, strict=True):
            values = [v for i, v in enumerate(shown) if i != period_at + 1]
            expected = [_expected_cell(c, row, labels) if c in row or c.startswith("met_") else "Total" for c in names]
            assert values[: len(expected)] == expected, (t["id"], shown, row)
            status = shown[period_at + 1]
            period = row.get(names[0])
            if period is None:
                assert status == "Total"
            else:
                partial = period in release["partial_periods"].get(t["id"], [])
                assert status == ("partial: to 30 November 2025" if partial else "complete"), (t["id"], period)
        for line in sheet[1:start]:  # no merged cells: every line of text in column A alone
            assert len(line) <= 1

    # The notes explain every note the tables refer to.
    notes = ods["Notes"]
    numbered = {r[0] for r in notes[_find_header(notes, "Note number") + 1 :]}
    referred = {w.split("]")[0] for s in ods.values() for r in s for c in r for w in c.split("[note ")[1:]}
    assert referred == numbered and numbered

    # LibreOffice opens both and converts them without error.
    assert SOFFICE, "LibreOffice is needed (make test installs Debian's libreoffice-calc)"
    for fmt in ("ods", "xlsx"):
        done = subprocess.run([SOFFICE, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                               "--convert-to", "pdf", "--outdir", str(tmp_path / fmt), str(tmp_path / f"book.{fmt}")],
                              capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert (tmp_path / fmt / "book.pdf").stat().st_size > 10_000, done.stdout + done.stderr


async def _check_data_package(
    client: httpx.AsyncClient, where: Path, release: dict[str, Any], tables: dict[str, dict[str, Any]]
) -> None:
    """The release's data package, saved with its CSVs as a user would, passes the Frictionless validator:
    every CSV matches the columns, types and codes the package gives it."""
    r = await client.get(release["datapackage"], headers=READER)
    assert r.status_code == 200, r.text
    package = r.json()
    assert package["disclosure"] == release["disclosure"] and package["markers"]["c"].startswith("withheld")
    (where / "tables").mkdir(parents=True)
    (where / "datapackage.json").write_text(json.dumps(package))
    for resource in package["resources"]:
        csv = await client.get(f"/v1/releases/{RELEASE}/{resource['path']}", headers=READER)
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.headers["link"] == f'</v1/releases/{RELEASE}/datapackage.json>; rel="describedby"'
        (where / resource["path"]).write_text(csv.text)
        names = [f["name"] for f in resource["schema"]["fields"]]
        assert names == tables[resource["name"]]["columns"] == csv.text.splitlines()[0].split(",")
        assert all(f["title"] and f["description"] for f in resource["schema"]["fields"])
        assert resource["partial_periods"] == release["partial_periods"].get(resource["name"], [])
    region = next(f for f in package["resources"][1]["schema"]["fields"] if f["name"] == "region")
    assert {"value": "north_west", "label": "North West"} in region["categories"]
    shares = next(r for r in package["resources"] if r["name"] == "timeliness_by_quarter")["schema"]["fields"]
    words = {f["name"]: f["title"] for f in shares}
    assert words["met_referral_deadline"].startswith("Share") and words["referral_deadline_met"].startswith("Children")

    from frictionless import validate  # a test-only dependency: the Frictionless reference validator

    report = validate(str(where / "datapackage.json"))
    assert report.valid, report.flatten(["resourceName", "rowNumber", "fieldName", "type", "note"])[:10]
    assert release["partial_periods"]["timeliness_by_quarter"] == ["2025-Q4"]
    assert release["partial_periods"]["referrals_by_year_and_nationality_group"] == ["2025"]


def _find_header_row_of(sheet: list[list[str]], columns: int) -> int:
    """The table's header: the first row after the lines of text with at least as many cells as columns."""
    return next(i for i, r in enumerate(sheet) if len(r) >= columns and i > 0)
