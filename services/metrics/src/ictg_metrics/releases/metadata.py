"""A release as a Frictionless tabular data package (`datapackage.json`): one resource per published table
(its tidy CSV, `tables/<id>.csv` beside the package), each column's title, type, unit and meaning, every
code of a coded column with its label (`categories`), and the markers: `c` withheld, an empty value not
applicable. The disclosure control and the partial periods travel with it."""

from __future__ import annotations

from typing import Any

from .catalogue import CATALOGUE, TABLES
from .columns import Column, columns_of
from .periods import partial_periods

MARKERS = {"c": "withheld to protect confidentiality (a published value under the threshold, or an empty cell)",
           "": "not applicable: nothing to measure (a median of no children) or no one decided (a share)"}  # fmt: skip


def _field(col: Column) -> dict[str, Any]:
    field: dict[str, Any] = {"name": col.name, "title": col.title, "type": col.type, "description": col.description}
    if col.unit:
        field["unit"] = col.unit
    if col.codes is not None:
        field["categories"] = [{"value": v, "label": label} for v, label in col.codes if v is not None]
    return field


def data_package(release: Any, tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The data package of a stored release (`release`: its row) and its tables' bodies."""
    resources = []
    for table in (t for t in CATALOGUE if t.id in tables):
        body = tables[table.id]
        resources.append({
            "name": table.id,
            "title": table.title,
            "description": table.description or table.title,
            "path": f"tables/{table.id}.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": {
                "fields": [_field(c) for c in columns_of(TABLES[table.id], list(body["columns"]))],
                "missingValues": list(MARKERS),
                "primaryKey": [c for c in body["columns"] if c in table.group_by or c == "month"],
            },
            "partial_periods": partial_periods(table, body["rows"], as_at=release.as_at),
        })  # fmt: skip
    return {
        "profile": "tabular-data-package",
        "name": f"ictg-release-{release.release}",
        "title": f"Independent Child Trafficking Guardian service statistics: release {release.release}",
        "version": release.release,
        "created": release.published_at.isoformat(),
        "description": f"The published tables of release {release.release}, as at {release.as_at.isoformat()}. "
        "Each period is a cell of its own; totals and each period's total are in the table's JSON and in its "
        "CSV with totals=only.",
        "as_at": release.as_at.isoformat(),
        "disclosure": release.disclosure,
        "markers": MARKERS,
        "revisions_against": release.previous,
        "resources": resources,
    }
