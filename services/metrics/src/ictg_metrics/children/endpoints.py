"""`/v1/metrics/children`, `/caseload`, `/timeliness`: parse, authorise, query, disclose, shape; `/dimensions`:
the data dictionary."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit
from ictg_common.auth import Actor, require
from ictg_common.errors import Forbidden, invalid
from ictg_common.queries import accepts_query
from ictg_common.service import SessionDep

from ..models import SCHEMA
from .caseload import caseload, months
from .dictionary import DataDictionary, data_dictionary
from .dimensions import DIMENSIONS, in_natural_order
from .disclosure import (
    ChildrenDisclosure,
    Disclosure,
    complementary,
    disclose,
    disclose_row,
    disclose_statistics,
    perturb,
    perturb_row,
    to_csv,
    without_cell_keys,
)
from .params import echo_filters, parse_month, parse_query, wants_csv
from .query import ChildQuery, count_children
from .timeliness import QUANTILES, SHARES, STATS, timeliness

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])
Analyst = Annotated[Actor, require("metrics:read")]
Format = Annotated[str | None, Query(pattern="^(json|csv)$")]
MAX_MONTHS = 240
COMMON_DOC = (
    "\n\nCommon parameters: `referred_from`, `referred_to` (inclusive London dates of receipt), `as_of` (default "
    "today: the state at the end of that day), `group_by=d1,d2` (at most 3), `disclosure=suppress|round|none` "
    "(`none` needs metrics:read:unsuppressed), `format=csv` or `Accept: text/csv`, and filters `<dimension>=<value>` "
    "(repeat for several values). Dimensions: " + ", ".join(f"`{d}`" + (" (multi)" if DIMENSIONS[d].multi else "")
                                                               for d in DIMENSIONS) + "."
)  # fmt: skip


async def _check_disclosure(
    request: Request, session: AsyncSession, actor: Actor, disclosure: ChildrenDisclosure
) -> None:
    """`disclosure=none` publishes true counts, small cells included: it needs its own scope, and
    every use (or refused attempt) is audited with the query asked (`reason`)."""
    if disclosure != "none":
        return
    where = {"schema": SCHEMA, "actor": actor, "action": "unperturbed.read", "resource": request.url.path[:200],
             "reason": request.url.query[:1000] or None}  # fmt: skip
    if not actor.has("metrics:read:unsuppressed"):
        await audit.record_refusal(request.app.state.sessionmaker, **where)
        raise Forbidden("disclosure=none needs scope metrics:read:unsuppressed.")
    await audit.record(session, **where)  # commits with the answer: a refused query leaves no "ok" row


def _body(
    measure: str, q: ChildQuery, disclosure: ChildrenDisclosure, rows: list[dict[str, Any]], **extra: Any
) -> JSONResponse:
    return JSONResponse({
        "measure": measure, "as_of": q.as_of.isoformat(), "filters": echo_filters(q),
        "group_by": list(q.group_by), "disclosure": disclosure, "rows": rows, **extra,
    })  # fmt: skip


def _csv(text_: str) -> Response:
    return Response(text_, media_type="text/csv; charset=utf-8")


@router.get(
    "/dimensions",
    summary="Data dictionary",
    description="Every dimension the metrics endpoints accept in `group_by` and as filters `<dimension>=<value>`: "
    "its name, label, definition, kind (text, bool, int), whether it is multi-valued, and its values in their "
    "natural order with labels (local authorities and regions by name). Open-ended values (months, years, "
    "ages) are `null` with a `values_note`.",
    response_model=DataDictionary,
)
async def dimensions(actor: Analyst) -> DataDictionary:
    """The data dictionary (DESIGN.md §9, "For analysts")."""
    return data_dictionary()


@router.get(
    "/children",
    summary="Children per group",
    description="Number of children (one per case) per group; multi-valued dimensions count a child once per value, `total` stays distinct children. "
    "`disclosure=perturb` applies the cell key method (the configured ptable, named in the answer)." + COMMON_DOC,
)
@accepts_query(DIMENSIONS)  # filters <dimension>=<value>, checked by parse_filters
async def children(
    request: Request, session: SessionDep, actor: Analyst,
    referred_from: date | None = None, referred_to: date | None = None, as_of: date | None = None,
    group_by: str | None = None, disclosure: ChildrenDisclosure = "suppress", format: Format = None,
) -> Response:  # fmt: skip
    """Number of children (one per case) per group, as of the end of `as_of`."""
    await _check_disclosure(request, session, actor, disclosure)
    q = parse_query(request, referred_from=referred_from, referred_to=referred_to, as_of=as_of, group_by=group_by)
    raw_rows, raw_total, total_key = await count_children(session, q)
    if disclosure == "perturb":
        ptable = request.app.state.ptable
        rows = [perturb_row(r, ["children"], ptable) for r in raw_rows]
        total, total_suppressed = perturb(raw_total, total_key, ptable)
    else:
        rows = [disclose_row(without_cell_keys(r), ["children"], disclosure) for r in raw_rows]
        if disclosure == "suppress" and not any(DIMENSIONS[g].multi for g in q.group_by):
            complementary(rows, "children")  # cells add up to the total: one hidden cell alone is recoverable
        total, total_suppressed = disclose(raw_total, disclosure)
    rows = in_natural_order(rows, q.group_by)  # bands 0-1, 2, 3-15, … not as text
    if wants_csv(request, format):
        total_row = {**{g: "total" if i == 0 else None for i, g in enumerate(q.group_by)}, "children": total}
        if total_suppressed:
            total_row["suppressed"] = True
        return _csv(
            to_csv([*q.group_by, "children"], [*rows, total_row] if q.group_by else [total_row], counts=["children"])
        )
    extra: dict[str, Any] = {"total_suppressed": True} if total_suppressed else {}
    if disclosure == "perturb":
        extra["ptable"] = request.app.state.ptable.name
    return _body("children", q, disclosure, rows, total=total, **extra)


@router.get(
    "/caseload",
    summary="Caseload per month",
    description="`from`/`to` (YYYY-MM, default the 12 months to `as_of`): per month referrals in, exits out (on or before `as_of`) and children in service at the month's end."
    + COMMON_DOC,
)
@accepts_query(DIMENSIONS)  # filters <dimension>=<value>, checked by parse_filters
async def caseload_by_month(
    request: Request, session: SessionDep, actor: Analyst,
    from_: Annotated[str | None, Query(alias="from")] = None, to: str | None = None,
    referred_from: date | None = None, referred_to: date | None = None, as_of: date | None = None,
    group_by: str | None = None, disclosure: Disclosure = "suppress", format: Format = None,
) -> Response:  # fmt: skip
    """Per month: referrals in, exits out, and children in service at the month's end."""
    await _check_disclosure(request, session, actor, disclosure)
    q = parse_query(
        request,
        referred_from=referred_from,
        referred_to=referred_to,
        as_of=as_of,
        group_by=group_by,
        own=frozenset({"from", "to"}),
    )
    last = parse_month(to, "#query/to") if to else q.as_of.replace(day=1)
    first = (
        parse_month(from_, "#query/from") if from_ else date(last.year - (last.month < 12), (last.month % 12) + 1, 1)
    )
    if first > last:
        raise invalid("#query/from", "from is after to")
    if len(months(first, last)) > MAX_MONTHS:
        raise invalid("#query/from", f"at most {MAX_MONTHS} months at once")
    counts = ["referrals_in", "exits_out", "in_service_end"]
    rows = [disclose_row(r, counts, disclosure) for r in await caseload(session, q, first=first, last=last)]
    rows = in_natural_order(rows, q.group_by)
    if wants_csv(request, format):
        return _csv(to_csv([*q.group_by, "month", *counts], rows, counts=counts))
    return _body("caseload", q, disclosure, rows, **{"from": first.strftime("%Y-%m"), "to": last.strftime("%Y-%m")})


@router.get(
    "/timeliness",
    summary="Timeliness per group",
    description="Per group: count, median, p75, p90 of referral delay (days), hours to allocation and to first contact attempt; share meeting each deadline among cases decided by `as_of`."
    + COMMON_DOC,
)
@accepts_query(DIMENSIONS)  # filters <dimension>=<value>, checked by parse_filters
async def timeliness_by_group(
    request: Request, session: SessionDep, actor: Analyst,
    referred_from: date | None = None, referred_to: date | None = None, as_of: date | None = None,
    group_by: str | None = None, disclosure: Disclosure = "suppress", format: Format = None,
) -> Response:  # fmt: skip
    """Per group: referral delay (days), hours to allocation and to first contact attempt
    (count, median, p75, p90), and the share meeting each deadline (decided cases only)."""
    await _check_disclosure(request, session, actor, disclosure)
    q = parse_query(request, referred_from=referred_from, referred_to=referred_to, as_of=as_of, group_by=group_by)
    counts = ["children", *(f"{s}_count" for s in STATS)]
    # Each quantile is computed over the cases its measure counts; the shares over all the group's.
    statistics = [*((f"{s}_count", [f"{s}_{k}" for k in QUANTILES]) for s in STATS), ("children", SHARES)]
    rows = []
    for raw in await timeliness(session, q):
        flat = {**raw, **{f"{s}_count": raw[s]["count"] for s in STATS}}
        flat.update({f"{s}_{k}": raw[s][k] for s in STATS for k in QUANTILES})
        rows.append(disclose_statistics(flat, counts, disclosure, statistics=statistics))
    rows = in_natural_order(rows, q.group_by)
    if wants_csv(request, format):
        columns = [
            *q.group_by,
            "children",
            *(f"{s}_{k}" for s in STATS for k in ("count", *QUANTILES)),
            *SHARES,
        ]
        return _csv(to_csv(columns, rows, counts=["children"]))
    shaped = []
    for r in rows:
        item = {k: v for k, v in r.items() if not any(k.startswith(f"{s}_") for s in STATS)}
        for s in STATS:
            item[s] = {k: r[f"{s}_{k}"] for k in ("count", *QUANTILES)}
        shaped.append(item)
    return _body("timeliness", q, disclosure, shaped)
