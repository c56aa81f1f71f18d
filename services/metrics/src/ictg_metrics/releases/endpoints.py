"""`/v1/releases` (scope metrics:read): the published tables, as stored, with their metadata (a data
package) and as a workbook; `POST /v1/admin/releases` (metrics:admin) publishes a month that is due now
rather than at the next scheduled check."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from ictg_common import audit
from ictg_common.auth import Actor, require
from ictg_common.errors import NotFound, invalid
from ictg_common.service import SessionDep

from ..children.csv_output import to_csv
from ..children.params import wants_csv
from ..disclosure.cellkey import DEFAULT_PTABLE
from ..models import SCHEMA
from ..runtime import MetricsRuntimeDep
from . import store, workbook
from .catalogue import CATALOGUE, TABLES
from .kept import Kept
from .metadata import data_package
from .periods import partial_by_table, partial_periods, period_column
from .service import NotDue, parse_release, publish

router = APIRouter(tags=["releases"])
Reader = Annotated[Actor, require("metrics:read")]
Admin = Annotated[Actor, require("metrics:admin")]
ReleaseName = Annotated[
    str, Path(description="A release: its month, `YYYY-MM` (e.g. `2026-11`), or `latest`.", max_length=10)
]
TableId = Annotated[str, Path(description="A table of the catalogue (`GET /v1/releases/catalogue`).", max_length=100)]

_PT = DEFAULT_PTABLE.describe()
TIERS_DOC = (
    "\n\n**What publication protects.** Only the tables of a fixed catalogue are published, each period a cell "
    "of its own, once a month, and never recomputed: nobody can ask for a union, a range or a filter of their "
    "own, so the overlapping questions that differencing needs are not there to ask. Every count is perturbed "
    f"by the cell key method with the noisy ptable `{_PT['name']}` (its parameters are in every table: threshold "
    f"{_PT['threshold']}, noise of at most ±{_PT['max_noise']}, mean 0, variance {_PT['variance']:.2f}): values "
    "under the threshold, and empty cells, are withheld alike; margins and totals are perturbed on their own. "
    "What it does not protect: a perturbed count is the true one within the maximum noise; what someone already "
    "knows of a child from outside the service; and a small national count beside a published complement and "
    "total can sometimes be told from 0 (the metrics README gives the measured rates). Free questions need scope "
    "`metrics:query` (differential privacy, a monthly budget) at `/v1/metrics/…`."
)


def _summary(r: Any, *, tables: list[str] | None = None) -> dict[str, Any]:
    base = f"/v1/releases/{r.release}"
    out = {"release": r.release, "as_at": r.as_at.isoformat(), "published_at": r.published_at.isoformat(),
           "url": base, "revised_values": len(r.revisions), "revisions_against": r.previous,
           "workbook": {"ods": f"{base}/workbook.ods", "xlsx": f"{base}/workbook.xlsx"},
           "datapackage": f"{base}/datapackage.json", "dashboard": f"/dashboard?release={r.release}"}  # fmt: skip
    if tables is not None:
        out["tables"] = [
            {
                **TABLES[t].describe(),
                "url": f"{base}/tables/{t}",
                "csv_url": f"{base}/tables/{t}.csv",
            }
            for t in [c.id for c in CATALOGUE if c.id in tables]
        ]
    return out


def revisions_by_period(revisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The revision notes summed up: how many values of each table and period this release revised."""
    counted: dict[tuple[str, str], int] = {}
    for note in revisions:
        table = TABLES.get(note["table"])
        period = note["cell"].get(period_column(table)) if table else None
        key = (note["table"], str(period))
        counted[key] = counted.get(key, 0) + 1
    return [{"table": t, "period": p, "values_revised": n} for (t, p), n in counted.items()]


async def _found(session: SessionDep, name: str) -> Any:
    found = await store.release(session, name)
    if found is None:
        raise NotFound(f"No release {name[:20]!r}: GET /v1/releases lists them.")
    return found


@router.get("/v1/releases", summary="Releases", description="Every monthly release, newest first." + TIERS_DOC)
async def list_releases(session: SessionDep, actor: Reader) -> dict[str, Any]:
    return {"releases": [_summary(r) for r in await store.releases(session)]}


@router.get(
    "/v1/releases/catalogue",
    summary="Catalogue of published tables",
    description="Every table a release holds: measure, period grid, geography and dimensions." + TIERS_DOC,
)
async def catalogue(actor: Reader) -> dict[str, Any]:
    return {"tables": [t.describe() for t in CATALOGUE]}


@router.get(
    "/v1/releases/{release}",
    summary="A release",
    description="A release's as-at date, its disclosure control (method and ptable parameters), its tables and "
    "its revision notes: each value of an earlier period that this release publishes differently from the "
    "release before it (`table`, `cell`, `field`, `previous`, `current`)." + TIERS_DOC,
)
async def get_release(session: SessionDep, actor: Reader, release: ReleaseName) -> dict[str, Any]:
    r = await _found(session, release)
    tables = await store.tables_of(session, r.release)
    body = _summary(r, tables=list(tables))
    body.update(
        disclosure=r.disclosure,
        partial_periods=partial_by_table(tables, as_at=r.as_at),
        revisions_by_period=revisions_by_period(r.revisions),
        revisions=r.revisions,
    )
    return body


@router.get(
    "/v1/releases/{release}/datapackage.json",
    summary="A release's metadata (Frictionless data package)",
    description="A tabular data package describing every table of the release: its CSV (`tables/<id>.csv`, "
    "relative to this document), each column's title, type, unit and meaning, the codes of coded columns with "
    "their labels (`categories`), the markers (`c` withheld, empty not applicable), the disclosure control and "
    "the partial periods." + TIERS_DOC,
)
async def get_data_package(session: SessionDep, actor: Reader, release: ReleaseName) -> dict[str, Any]:
    r = await _found(session, release)
    return data_package(r, await store.tables_of(session, r.release))


_BOOKS: Kept[bytes] = Kept()  # a release never changes: so neither does its workbook


@router.get(
    "/v1/releases/{release}/workbook.{fmt}",
    summary="A release as a spreadsheet",
    description="The release as a workbook in the Analysis Function's layout: `ods` (OpenDocument, the "
    "government's open standard) or `xlsx`. A cover sheet (the release, its as-at date, the disclosure method "
    "and ptable parameters, the revisions policy, a contact), contents, notes, one table per sheet with its "
    "title in A1 and no merged cells, `[c]` withheld, `[x]` not applicable, units in the headers, each "
    "period's status (complete or partial), and the revisions against the previous release." + TIERS_DOC,
    responses={
        200: {
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media, _ in workbook.FORMATS.values()
            }
        }
    },
)
async def get_workbook(
    runtime: MetricsRuntimeDep, session: SessionDep, actor: Reader, release: ReleaseName,
    fmt: Annotated[Literal["ods", "xlsx"], Path(description="`ods` or `xlsx`.")],
) -> Response:  # fmt: skip
    r = await _found(session, release)
    media, write = workbook.FORMATS[fmt]
    key = Kept.key(r, fmt)
    data = _BOOKS.get(key)
    if data is None:
        book = workbook.build(r, await store.tables_of(session, r.release),
                              contact=runtime.settings.publication_contact)  # fmt: skip
        data = await asyncio.to_thread(write, book)
        _BOOKS.put(key, data)
    name = f"ictg-statistics-release-{r.release}.{fmt}"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                     "ICTG-Release": r.release})  # fmt: skip


@router.get(
    "/v1/releases/{release}/tables/{table}.csv",
    summary="A published table as CSV",
    description="The same as `/v1/releases/{release}/tables/{table}?format=csv` (the path the release's data "
    "package names).",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_table_csv(
    request: Request, session: SessionDep, actor: Reader, release: ReleaseName, table: TableId,
    totals: Annotated[Literal["only"] | None, Query(description="`only`: CSV of the margins and total.")] = None,
) -> Response:  # fmt: skip
    return await get_table(request, session, actor, release, table, format="csv", totals=totals)


@router.get(
    "/v1/releases/{release}/tables/{table}",
    summary="A published table",
    description="One table of a release, as published: JSON (`rows`, every cell of the grid, empty ones "
    "included; `margins` per period and `total`, perturbed on their own) or tidy CSV (`format=csv` or "
    "`Accept: text/csv`: one header row, one row per cell, withheld values `c`; `totals=only` for the margins "
    "and total)." + TIERS_DOC,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_table(
    request: Request, session: SessionDep, actor: Reader, release: ReleaseName, table: TableId,
    format: Annotated[Literal["json", "csv"] | None, Query(description="`csv` for CSV.")] = None,
    totals: Annotated[Literal["only"] | None, Query(description="`only`: CSV of the margins and total.")] = None,
) -> Response:  # fmt: skip
    r = await _found(session, release)
    # a table stored in an earlier release but since taken out of the catalogue is no longer served
    body = await store.table(session, r.release, table) if table in TABLES else None
    if body is None:
        raise NotFound(f"Release {r.release} has no table {table[:100]!r}: GET /v1/releases/{r.release} lists them.")
    headers = {"ICTG-Release": r.release, "ICTG-As-Of": r.as_at.isoformat(), "ICTG-Disclosure": "cell_key",
               "ICTG-Ptable": str(r.disclosure.get("ptable", {}).get("name", ""))}  # fmt: skip
    body = {"release": r.release, **body, "disclosure": r.disclosure,
            "partial_periods": partial_periods(TABLES[table], body["rows"], as_at=r.as_at)}  # fmt: skip
    headers["Link"] = f'</v1/releases/{r.release}/datapackage.json>; rel="describedby"'
    if wants_csv(request, format):
        columns, rows = body["columns"], body["rows"]
        if totals == "only":
            period = body["columns"][:1]
            count_columns = [c for c in columns if c not in TABLES[table].group_by and not c.endswith("_name")]
            columns = [*period, *count_columns] if body.get("margins") else count_columns
            rows = [*body.get("margins", []), *([{**body["total"], period[0]: "total"}] if "total" in body else [])]
        name = f"ictg-release-{r.release}-{table}{'-totals' if totals else ''}.csv"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(to_csv(columns, rows), media_type="text/csv; charset=utf-8", headers=headers)
    return JSONResponse(body, headers=headers)


@router.post(
    "/v1/admin/releases",
    status_code=201,
    tags=["admin"],
    summary="Publish a release now",
    description="Computes and stores the release of a month already over (`release=YYYY-MM`), as the service "
    "does by itself once a month has ended; 200 if it was stored already (it is never recomputed).",
)
async def publish_release(
    runtime: MetricsRuntimeDep, actor: Admin,
    release: Annotated[str, Query(description="The month, YYYY-MM.", max_length=10)],
) -> Response:  # fmt: skip
    try:
        parse_release(release)
    except ValueError as exc:
        raise invalid("#query/release", str(exc)) from None
    try:
        stored = await publish(runtime.sessionmaker, release, ptable=runtime.extras.ptable,
                               long_term_missing_days=runtime.settings.long_term_missing_days)  # fmt: skip
    except NotDue as exc:
        raise invalid("#query/release", str(exc)) from None
    await audit.record_refusal(runtime.sessionmaker, schema=SCHEMA, actor=actor, action="release.publish",
                               resource=f"/v1/releases/{release}", outcome="created" if stored else "exists")  # fmt: skip
    return JSONResponse({"release": release, "created": stored, "url": f"/v1/releases/{release}"},
                        status_code=201 if stored else 200)  # fmt: skip
