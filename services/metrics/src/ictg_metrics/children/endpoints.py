"""`/v1/metrics/children`, `/caseload`, `/timeliness`: parse, authorise, query, disclose, shape; `/dimensions`:
the data dictionary."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit
from ictg_common.auth import Actor, require
from ictg_common.errors import Forbidden, invalid
from ictg_common.queries import accepts_query
from ictg_common.service import SessionDep

from ..models import SCHEMA
from .answers import CaseloadAnswer, ChildrenAnswer, TimelinessAnswer
from .caseload import caseload, months
from .dictionary import DataDictionary, data_dictionary
from .dimensions import DIMENSIONS, columns_with_names, in_natural_order, with_empty_cells, with_names
from .disclosure import Discloser, Disclosure, csv_filename, to_csv
from .params import COMMON_DOC, Common, as_text, echo_filters, parse_month, parse_query, wants_csv, whole_months
from .query import ChildQuery, count_children
from .timeliness import DEADLINES, QUANTILES, STATS, share, timeliness

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])
Analyst = Annotated[Actor, require("metrics:read")]
CommonDep = Annotated[Common, Depends()]
MAX_MONTHS = 240


def _csv_doc(example: str) -> dict[str, Any]:
    return {"text/csv": {"schema": {"type": "string"}, "example": example}}


async def _check_disclosure(request: Request, session: AsyncSession, actor: Actor, disclosure: Disclosure) -> None:
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


async def _prepare(
    request: Request, session: AsyncSession, actor: Actor, common: Common, *, own: frozenset[str] = frozenset()
) -> tuple[ChildQuery, Discloser]:
    """The query asked (`totals=only`: without its grouping) and how its answer is disclosed; refuses
    (422) more dimensions than perturbation protects before anything is counted."""
    await _check_disclosure(request, session, actor, common.disclosure)
    if common.disclosure == "perturb":
        whole_months(common)
    q = parse_query(request, common, own=own)
    if common.totals == "only":
        q = replace(q, group_by=())
    d = Discloser(common.disclosure, request.app.state.ptable)
    d.check_dimensions(len(q.group_by) + len(q.filters))
    return q, d


def _nested(field: str) -> str:
    """A timeliness field's name in the JSON (`hours_to_allocation.median`, `allocation_deadline.met`)."""
    for s in STATS:
        if field.startswith(f"{s}_"):
            return f"{s}.{field[len(s) + 1 :]}"
    head, sep, tail = field.rpartition("_deadline_")
    return f"{head}_deadline.{tail}" if sep else field


def _period(q: ChildQuery) -> dict[str, Any]:
    return {"referred_from": q.referred_from, "referred_to": q.referred_to, "as_of": q.as_of, "filters": q.filters}


def _answer(
    request: Request, common: Common, measure: str, q: ChildQuery, d: Discloser, rows: list[dict[str, Any]],
    columns: list[str], **extra: Any,
) -> Response:  # fmt: skip
    """JSON (`rows` as they are) or tidy CSV (`columns` of `rows`), both saying in headers what they hold."""
    rows = with_names(rows, q.group_by)
    columns = [*columns_with_names(q.group_by), *columns[len(q.group_by) :]]
    echo = echo_filters(q)
    text = as_text(echo)
    headers = {"ICTG-Disclosure": d.mode, "ICTG-As-Of": q.as_of.isoformat(), "ICTG-Filters": urlencode(text, True)}
    if d.perturbs:
        headers["ICTG-Ptable"] = d.ptable.name
    if wants_csv(request, common.format):
        name = csv_filename(measure, text, as_of=q.as_of.isoformat(), group_by=q.group_by, d=d)
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(to_csv(columns, rows), media_type="text/csv; charset=utf-8", headers=headers)
    body = {"measure": measure, "as_of": q.as_of.isoformat(), "filters": echo, "group_by": list(q.group_by),
            **d.describe(), "rows": rows, **extra}  # fmt: skip
    return JSONResponse(body, headers=headers)


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
    description="Number of children (one per case) per group; multi-valued dimensions count a child once per "
    "value, `total` stays distinct children." + COMMON_DOC,
    response_model=ChildrenAnswer,
    responses={200: {"content": _csv_doc("gender,children\nfemale,90\nmale,115\nother,c\nunknown,c\n")}},
)
@accepts_query(DIMENSIONS)  # filters <dimension>=<value>, checked by parse_filters
async def children(request: Request, session: SessionDep, actor: Analyst, common: CommonDep) -> Response:
    """Number of children (one per case) per group, as of the end of `as_of`."""
    q, d = await _prepare(request, session, actor, common)
    raw_rows, raw_total, total_key = await count_children(session, q)
    if d.perturbs and q.group_by:  # an empty cell is withheld like a small one (ungrouped: the total)
        raw_rows = with_empty_cells(raw_rows, q.group_by, {"children": 0, "_ck_children": 0}, **_period(q))
    rows = in_natural_order([d.row(r, ["children"]) for r in raw_rows], q.group_by)  # bands 0-1, 2, 3-15, …
    d.check_published([r["children"] for r in rows])
    total = d.row({"children": raw_total, "_ck_children": total_key}, ["children"])
    extra = {"total": total["children"], **({"total_withheld": True} if total.get("withheld") else {})}
    return _answer(request, common, "children", q, d, rows if q.group_by else [total], [*q.group_by, "children"],
                   **extra)  # fmt: skip


@router.get(
    "/caseload",
    summary="Caseload per month",
    description="`from`/`to` (YYYY-MM, default the 12 months to `as_of`): per month referrals in, exits out "
    "(on or before `as_of`) and children in service at the month's end, each perturbed on its own." + COMMON_DOC,
    response_model=CaseloadAnswer,
    responses={
        200: {"content": _csv_doc("month,referrals_in,exits_out,in_service_end\n2017-02,35,c,35\n2017-03,40,10,65\n")}
    },
)
@accepts_query(DIMENSIONS)  # filters <dimension>=<value>, checked by parse_filters
async def caseload_by_month(
    request: Request, session: SessionDep, actor: Analyst, common: CommonDep,
    from_: Annotated[str | None, Query(alias="from", description="First month, YYYY-MM.")] = None,
    to: Annotated[str | None, Query(description="Last month, YYYY-MM (default: the month of `as_of`).")] = None,
) -> Response:  # fmt: skip
    """Per month: referrals in, exits out, and children in service at the month's end."""
    q, d = await _prepare(request, session, actor, common, own=frozenset({"from", "to"}))
    last = parse_month(to, "#query/to") if to else q.as_of.replace(day=1)
    first = (
        parse_month(from_, "#query/from") if from_ else date(last.year - (last.month < 12), (last.month % 12) + 1, 1)
    )
    if first > last:
        raise invalid("#query/from", "from is after to")
    if len(months(first, last)) > MAX_MONTHS:
        raise invalid("#query/from", f"at most {MAX_MONTHS} months at once")
    counts = ["referrals_in", "exits_out", "in_service_end"]
    raw = await caseload(session, q, first=first, last=last)
    if d.perturbs:
        zero = {k: 0 for c in counts for k in (c, f"_ck_{c}")}
        raw = with_empty_cells(raw, q.group_by, zero, per="month", per_values=months(first, last), **_period(q))
    rows = in_natural_order([d.row(r, counts) for r in raw], q.group_by)
    d.check_published([r["in_service_end"] for r in rows])  # flows are often 0 in a month: the stocks decide
    return _answer(request, common, "caseload", q, d, rows, [*q.group_by, "month", *counts],
                   **{"from": f"{first:%Y-%m}", "to": f"{last:%Y-%m}"})  # fmt: skip


@router.get(
    "/timeliness",
    summary="Timeliness per group",
    description="Per group: count, median, p75, p90 of referral delay (calendar and working days), hours to "
    "allocation, hours and days to first contact attempt; per deadline the cases that met it and the cases "
    "decided by `as_of` (met, late, or past due), and the share meeting it. Quantiles are withheld with "
    "the count of their cases (fewer than 10 cases with the shipped ptable)." + COMMON_DOC,
    response_model=TimelinessAnswer,
    responses={
        200: {
            "content": _csv_doc(
                "region,region_name,children,referral_delay_days_count,referral_delay_days_median,...\n"
                "london,London,85,85,1.0,...\n"
            )
        }
    },
)
@accepts_query(DIMENSIONS)  # filters <dimension>=<value>, checked by parse_filters
async def timeliness_by_group(request: Request, session: SessionDep, actor: Analyst, common: CommonDep) -> Response:
    """Per group: referral delay, time to allocation and to first contact attempt (count, median, p75,
    p90), and per deadline the cases met and decided and the share meeting it."""
    q, d = await _prepare(request, session, actor, common)
    counts = ["children", *(f"{s}_count" for s in STATS), *(f"{x}_deadline_{p}" for x in DEADLINES
                                                            for p in ("met", "decided"))]  # fmt: skip
    statistics = [(f"{s}_count", [f"{s}_{k}" for k in QUANTILES]) for s in STATS]
    raw = await timeliness(session, q)
    if d.perturbs:
        zero: dict[str, int | None] = {k: 0 for c in counts for k in (c, f"_ck_{c}")}
        zero.update({f"{s}_{k}": None for s in STATS for k in QUANTILES})
        raw = with_empty_cells(raw, q.group_by, zero, **_period(q))
    rows = []
    for r in raw:
        row = d.row(r, counts, statistics=statistics)
        for x in DEADLINES:
            met, decided = f"{x}_deadline_met", f"{x}_deadline_decided"
            row[f"met_{x}_deadline"] = share(row[met], row[decided])
            if row[f"met_{x}_deadline"] is None and {met, decided} & set(row.get("withheld_fields", ())):
                row["withheld_fields"].append(f"met_{x}_deadline")
        rows.append(row)
    rows = in_natural_order(rows, q.group_by)
    d.check_published([r["children"] for r in rows])
    if wants_csv(request, common.format):
        columns = [*q.group_by, "children", *(f"{s}_{k}" for s in STATS for k in ("count", *QUANTILES)),
                   *(f"{x}_deadline_{p}" for x in DEADLINES for p in ("met", "decided")),
                   *(f"met_{x}_deadline" for x in DEADLINES)]  # fmt: skip
        return _answer(request, common, "timeliness", q, d, rows, columns)
    shaped = []
    for r in rows:
        item = {k: v for k, v in r.items() if not any(k.startswith(f"{s}_") for s in STATS) and "_deadline_" not in k}
        for s in STATS:
            item[s] = {k: r[f"{s}_{k}"] for k in ("count", *QUANTILES)}
        for x in DEADLINES:
            item[f"{x}_deadline"] = {p: r[f"{x}_deadline_{p}"] for p in ("met", "decided")}
        if "withheld_fields" in item:  # as the JSON nests them: `hours_to_allocation.median`
            item["withheld_fields"] = [_nested(f) for f in item["withheld_fields"]]
        shaped.append(item)
    return _answer(request, common, "timeliness", q, d, shaped, [])
