from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from ictg_common import clock
from ictg_common.auth import Actor, require
from ictg_common.errors import Forbidden, ValidationFailed
from ictg_common.service import SessionDep

from .dimensions import DIMENSIONS
from .query import ChildQuery, Disclosure, count_children, disclose

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])
Analyst = Annotated[Actor, require("metrics:read")]
COMMON = {"referred_from", "referred_to", "as_of", "group_by", "disclosure", "format"}


def _problem(pointer: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"pointer": pointer, "detail": detail}])


def parse_query(request: Request, *, referred_from: date | None, referred_to: date | None, as_of: date | None, group_by: str | None) -> ChildQuery:
    groups = tuple(g.strip() for g in group_by.split(",") if g.strip()) if group_by else ()
    if len(groups) > 3:
        raise _problem("#query/group_by", "group by at most 3 dimensions")
    for g in groups:
        if g not in DIMENSIONS:
            raise _problem("#query/group_by", f"unknown dimension {g!r}; known: {', '.join(sorted(DIMENSIONS))}")
    if len(set(groups)) != len(groups):
        raise _problem("#query/group_by", "a dimension is repeated")
    filters: dict[str, tuple[str, ...]] = {}
    for key in request.query_params:
        if key in COMMON:
            continue
        if key not in DIMENSIONS:
            raise _problem(f"#query/{key}", f"unknown parameter or dimension {key!r}")
        filters[key] = tuple(request.query_params.getlist(key))
    if referred_from and referred_to and referred_from > referred_to:
        raise _problem("#query/referred_from", "referred_from is after referred_to")
    return ChildQuery(
        referred_from=referred_from, referred_to=referred_to, as_of=as_of or clock.london_date(clock.utcnow()),
        group_by=groups, filters=filters,
    )  # fmt: skip


def wants_csv(request: Request, fmt: str | None) -> bool:
    return fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))


def to_csv(columns: list[str], rows: list[dict[str, Any]], total: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in [*rows, total]:
        writer.writerow(["c" if row.get("suppressed") and c == columns[-1] else ("" if row.get(c) is None else row.get(c)) for c in columns])
    return buf.getvalue()


@router.get("/children")
async def children(
    request: Request,
    session: SessionDep,
    actor: Analyst,
    referred_from: date | None = None,
    referred_to: date | None = None,
    as_of: date | None = None,
    group_by: str | None = None,
    disclosure: Disclosure = "suppress",
    format: Annotated[str | None, Query(pattern="^(json|csv)$")] = None,
) -> Response:
    """Number of children (one per case) per group."""
    if disclosure == "none" and not actor.has("metrics:read:unsuppressed"):
        raise Forbidden("disclosure=none needs scope metrics:read:unsuppressed.")
    q = parse_query(request, referred_from=referred_from, referred_to=referred_to, as_of=as_of, group_by=group_by)
    raw_rows, raw_total = await count_children(session, q)
    rows = []
    for r in raw_rows:
        value, suppressed = disclose(r["children"], disclosure)
        rows.append({**r, "children": value, **({"suppressed": True} if suppressed else {})})
    total, total_suppressed = disclose(raw_total, disclosure)
    filters: dict[str, Any] = {k: v for k, v in (("referred_from", q.referred_from), ("referred_to", q.referred_to)) if v}
    filters.update({k: list(v) for k, v in q.filters.items()})
    if wants_csv(request, format):
        columns = [*q.group_by, "children"]
        total_row = {**{g: "total" if i == 0 else "" for i, g in enumerate(q.group_by)}, "children": total, "suppressed": total_suppressed}
        return Response(to_csv(columns, rows, total_row), media_type="text/csv")
    body = {
        "measure": "children", "as_of": q.as_of.isoformat(),
        "filters": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in filters.items()},
        "group_by": list(q.group_by), "disclosure": disclosure, "rows": rows, "total": total,
        **({"total_suppressed": True} if total_suppressed else {}),
    }  # fmt: skip
    return JSONResponse(body)
