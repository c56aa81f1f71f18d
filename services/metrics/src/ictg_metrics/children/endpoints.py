"""`/v1/metrics/children`, `/caseload`, `/timeliness`: parse, authorise, query, disclose, shape; `/dimensions`:
the data dictionary.

Who may ask what (a refused attempt is audited with the query asked): `disclosure=dp` (the default) needs
scope metrics:query and spends the caller's privacy budget (`ictg_metrics.privacy`); `perturb` and `none` need
metrics:read:unsuppressed (`none` audited at every use). A token with metrics:read alone reads the
published tables (`/v1/releases`) and the data dictionary, and asks no free question."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit, clock
from ictg_common.auth import Actor, CurrentActor, Scopes, enforces, require
from ictg_common.errors import Forbidden, invalid
from ictg_common.queries import accepts_query
from ictg_common.service import SessionDep

from ..dimensions import DIMENSIONS
from ..dimensions.tables import columns_with_names, in_natural_order, with_empty_cells, with_names
from ..disclosure.discloser import Discloser, Disclosure
from ..models import SCHEMA
from ..privacy import release
from ..privacy.answers import NOTE, canonical_query
from ..privacy.answers import headers as privacy_headers
from ..privacy.release import cell_values
from ..privacy.service import answer_once
from ..privacy.tables import caseload_table, children_table, timeliness_table
from ..runtime import metrics_runtime
from .answers import Answer, CaseloadAnswer, ChildrenAnswer, Privacy, TimelinessAnswer
from .caseload import COUNTS, caseload, months
from .csv_output import csv_filename, to_csv
from .dictionary import DataDictionary, data_dictionary
from .params import (
    COMMON_DOC,
    Common,
    Mode,
    as_text,
    days_over,
    echo_filters,
    parse_month,
    parse_query,
    wants_csv,
    whole_months,
)
from .query import ChildQuery, count_children
from .timeliness import DEADLINES, QUANTILES, STATS, TIMELINESS_COUNTS, share, timeliness

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])
# The dictionary: for anyone who reads metrics in any tier.
Analyst = Annotated[Actor, require("metrics:read", "metrics:query", "metrics:read:unsuppressed")]
CommonDep = Annotated[Common, Depends()]
MAX_MONTHS = 240
NEEDS: dict[Mode, str] = {"dp": "metrics:query", "perturb": "metrics:read:unsuppressed",
                          "none": "metrics:read:unsuppressed"}  # fmt: skip
ACTIONS: dict[Mode, str] = {"dp": "dp.read", "perturb": "perturbed.read", "none": "unperturbed.read"}


@enforces(Scopes(tuple(dict.fromkeys(NEEDS.values()))))  # one of the scopes `_check_access` may need
async def _asker(actor: CurrentActor) -> Actor:
    """Any authenticated caller: which disclosure it may ask for is decided (and a refusal audited) by
    `_check_access`, once the query is known."""
    return actor


Asker = Annotated[Actor, Depends(_asker)]


def _csv_doc(example: str) -> dict[str, Any]:
    return {"text/csv": {"schema": {"type": "string"}, "example": example}}


def _audited(request: Request, actor: Actor, mode: Mode) -> dict[str, Any]:
    return {"schema": SCHEMA, "actor": actor, "action": ACTIONS[mode], "resource": request.url.path[:200],
            "reason": request.url.query[:1000] or None}  # fmt: skip


async def _check_access(request: Request, session: AsyncSession, actor: Actor, mode: Mode) -> None:
    """Free questions answered by noise within a budget (`dp`) need metrics:query; a perturbed preview or true
    counts, metrics:read:unsuppressed. A refused attempt is audited with the query asked (`reason`), and so
    is every use of true counts."""
    if not actor.has(NEEDS[mode]):
        await audit.record_refusal(metrics_runtime(request.app).sessionmaker, **_audited(request, actor, mode))
        why = "" if mode == "dp" else f"disclosure={mode} needs scope metrics:read:unsuppressed. "
        raise Forbidden(
            f"{why}Free queries (disclosure=dp, the default) need scope metrics:query: they spend a monthly "
            "privacy budget. Published tables of the fixed catalogue are at /v1/releases (scope metrics:read)."
        )
    if mode == "none":
        await audit.record(session, **_audited(request, actor, mode))  # commits with the answer


async def _prepare(
    request: Request, session: AsyncSession, actor: Actor, common: Common, *, own: frozenset[str] = frozenset()
) -> tuple[ChildQuery, Discloser | None]:
    """The query asked (`totals=only`: without its grouping) and how its answer is disclosed (None: under
    dp); refuses (422) before anything is counted or charged a table perturbation or noise cannot protect."""
    await _check_access(request, session, actor, common.disclosure)
    if common.epsilon is not None and common.disclosure != "dp":
        raise invalid("#query/epsilon", "epsilon is for disclosure=dp only")
    if common.disclosure == "perturb":
        whole_months(common)
    elif common.disclosure == "dp":
        days_over(common)
    q = parse_query(request, common, own=own)
    if common.totals == "only":
        q = replace(q, group_by=())
    if common.disclosure == "dp":
        cell_values(q)
        return q, None
    mode: Disclosure = "perturb" if common.disclosure == "perturb" else "none"
    d = Discloser(mode, metrics_runtime(request.app).extras.ptable)
    d.check_dimensions(len(q.group_by) + len(q.filters))
    return q, d


async def _privately(
    request: Request, session: AsyncSession, actor: Actor, common: Common, measure: str, q: ChildQuery,
    compute: Callable[[float], Awaitable[dict[str, Any]]], **extra: Any,
) -> tuple[dict[str, Any], Privacy]:  # fmt: skip
    """The answer under dp: stored (the same query before: no cost) or computed and charged to the caller's
    budget; its `privacy` says how (noise, budget, whether replayed, when answered)."""
    settings = metrics_runtime(request.app).settings
    epsilon = common.epsilon if common.epsilon is not None else settings.dp_query_epsilon
    # Not audited when refused over budget: the audit's own connection, taken while this one holds the
    # principal's lock, could exhaust the pool under a burst of refusals (the charges record what was spent).
    done = await answer_once(
        session, principal=actor.principal, query=canonical_query(measure, q, epsilon, **extra), epsilon=epsilon,
        monthly=settings.dp_monthly_epsilon, now=clock.utcnow(), compute=lambda: compute(epsilon),
    )  # fmt: skip
    privacy = Privacy.model_validate({**done.answer["privacy"], "budget": done.budget.describe(),
                                      "replayed": done.replayed, "answered_at": done.answered_at.isoformat()})  # fmt: skip
    return done.answer, privacy


def _in_order(rows: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Rows with their fields in the table's order (a stored answer comes back from JSONB in its own)."""
    return [{**{c: r[c] for c in columns if c in r}, **{k: v for k, v in r.items() if k not in columns}} for r in rows]


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
    request: Request, common: Common, measure: str, q: ChildQuery, d: Discloser | None, rows: list[dict[str, Any]],
    columns: list[str], *, model: Callable[..., Answer], privacy: Privacy | None = None, **extra: Any,
) -> Response:  # fmt: skip
    """JSON (the answer built as `model`, the endpoint's `response_model`: `rows` become its rows) or tidy
    CSV (`columns` of `rows`), both saying in headers what they hold. Under dp (`d` None) with the answer's
    `privacy`, in a `small` column of CSV the fields under 10."""
    rows = with_names(rows, q.group_by)
    columns = [*columns_with_names(q.group_by), *columns[len(q.group_by) :]]
    echo = echo_filters(q)
    text = as_text(echo)
    headers = {"ICTG-Disclosure": d.mode if d else "dp", "ICTG-As-Of": q.as_of.isoformat(),
               "ICTG-Filters": urlencode(text, True)}  # fmt: skip
    if d is not None and d.perturbs:
        headers["ICTG-Ptable"] = d.ptable.name
    if privacy is not None:
        headers.update(privacy_headers(privacy.wire()))
    if wants_csv(request, common.format):
        mode = None if privacy is None else f"dp-epsilon-{privacy.epsilon:g}"
        name = csv_filename(measure, text, as_of=q.as_of.isoformat(), group_by=q.group_by,
                            d=d or Discloser("none", metrics_runtime(request.app).extras.ptable), mode=mode)  # fmt: skip
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        if privacy is not None:
            columns = [*columns, "small"]
            rows = [{**r, "small": " ".join(r.get("small", ()))} for r in rows]
        return Response(to_csv(columns, rows), media_type="text/csv; charset=utf-8", headers=headers)
    described = d.describe() if d is not None else {"disclosure": "dp", "privacy": privacy, "note": NOTE}
    answer = model(measure=measure, as_of=q.as_of.isoformat(), filters=echo, group_by=list(q.group_by),
                   **described, rows=rows, **extra)  # fmt: skip
    return JSONResponse(answer.wire(), headers=headers)


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
    """The data dictionary: every dimension, its words and its values."""
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
async def children(request: Request, session: SessionDep, actor: Asker, common: CommonDep) -> Response:
    """Number of children (one per case) per group, as of the end of `as_of`."""
    q, d = await _prepare(request, session, actor, common)
    columns = [*q.group_by, "children"]
    if d is None:

        async def noisy(epsilon: float) -> dict[str, Any]:
            return release.children(await children_table(session, q), group_by=q.group_by, epsilon=epsilon)

        a, privacy = await _privately(request, session, actor, common, "children", q, noisy)
        extra = {"total": a["total"], **({"total_small": True} if a.get("total_small") else {})}
        return _answer(request, common, "children", q, None, _in_order(a["rows"], columns), columns,
                       model=ChildrenAnswer, privacy=privacy, **extra)  # fmt: skip
    raw_rows, raw_total, total_key = await count_children(session, q)
    if d.perturbs and q.group_by:  # an empty cell is withheld like a small one (ungrouped: the total)
        raw_rows = with_empty_cells(raw_rows, q.group_by, {"children": 0, "_ck_children": 0}, **_period(q))
    rows = in_natural_order([d.row(r, ["children"]) for r in raw_rows], q.group_by)  # bands 0-1, 2, 3-15, …
    d.check_published([r["children"] for r in rows])
    total = d.row({"children": raw_total, "_ck_children": total_key}, ["children"])
    extra = {"total": total["children"], **({"total_withheld": True} if total.get("withheld") else {})}
    return _answer(request, common, "children", q, d, rows if q.group_by else [total], columns, model=ChildrenAnswer,
                   **extra)  # fmt: skip


@router.get(
    "/caseload",
    summary="Caseload per month",
    description="`from`/`to` (YYYY-MM, default the 12 months to `as_of`): per month referrals in, exits out "
    "(on or before `as_of`) and children in service at the month's end, each disclosed on its own (under dp a "
    "child counts in every month-end stock it is in, so the noise grows with the months asked)." + COMMON_DOC,
    response_model=CaseloadAnswer,
    responses={
        200: {"content": _csv_doc("month,referrals_in,exits_out,in_service_end\n2017-02,35,c,35\n2017-03,40,10,65\n")}
    },
)
@accepts_query(DIMENSIONS)  # filters <dimension>=<value>, checked by parse_filters
async def caseload_by_month(
    request: Request, session: SessionDep, actor: Asker, common: CommonDep,
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
    counts = list(COUNTS)
    listed = months(first, last)
    columns = [*q.group_by, "month", *counts]
    period: dict[str, Any] = {"from": f"{first:%Y-%m}", "to": f"{last:%Y-%m}"}
    if d is None:

        async def noisy(epsilon: float) -> dict[str, Any]:
            table = await caseload_table(session, q, first=first, last=last)
            return release.caseload(table, group_by=q.group_by, months=len(listed), epsilon=epsilon)

        a, privacy = await _privately(request, session, actor, common, "caseload", q, noisy, **period)
        return _answer(request, common, "caseload", q, None, _in_order(a["rows"], columns), columns,
                       model=CaseloadAnswer, privacy=privacy, **period)  # fmt: skip
    raw = await caseload(session, q, first=first, last=last)
    if d.perturbs:
        zero = {k: 0 for c in counts for k in (c, f"_ck_{c}")}
        raw = with_empty_cells(raw, q.group_by, zero, per="month", per_values=listed, **_period(q))
    rows = in_natural_order([d.row(r, counts) for r in raw], q.group_by)
    d.check_published([r["in_service_end"] for r in rows])  # flows are often 0 in a month: the stocks decide
    return _answer(request, common, "caseload", q, d, rows, columns, model=CaseloadAnswer, **period)


@router.get(
    "/timeliness",
    summary="Timeliness per group",
    description="Per group: count, median, p75, p90 of referral delay (calendar and working days), hours to "
    "allocation, hours and days to first contact attempt; per deadline the cases that met it and the cases "
    "decided by `as_of` (met, late, or past due), and the share meeting it. Under dp the quantiles are drawn "
    "from a fixed grid (whole hours up to 48, whole days up to 14, coarser beyond) by OpenDP's exponential mechanism "
    "with half of the epsilon, so for groups of fewer than a few hundred children they are mostly noise; "
    "perturbed, they are withheld with the count of their cases." + COMMON_DOC,
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
async def timeliness_by_group(request: Request, session: SessionDep, actor: Asker, common: CommonDep) -> Response:
    """Per group: referral delay, time to allocation and to first contact attempt (count, median, p75,
    p90), and per deadline the cases met and decided and the share meeting it."""
    q, d = await _prepare(request, session, actor, common)
    columns = _timeliness_columns(q.group_by)
    privacy: Privacy | None = None
    if d is None:

        async def noisy(epsilon: float) -> dict[str, Any]:
            return release.timeliness(await timeliness_table(session, q), group_by=q.group_by, epsilon=epsilon)

        a, privacy = await _privately(request, session, actor, common, "timeliness", q, noisy)
        rows = _in_order(a["rows"], columns)
    else:
        rows = _disclosed_timeliness(await timeliness(session, q), q, d)
    if wants_csv(request, common.format):
        return _answer(request, common, "timeliness", q, d, rows, columns, model=TimelinessAnswer, privacy=privacy)
    return _answer(request, common, "timeliness", q, d, [_nested_row(r) for r in rows], [], model=TimelinessAnswer,
                   privacy=privacy)  # fmt: skip


def _timeliness_columns(group_by: Sequence[str]) -> list[str]:
    """A flat timeliness row's columns, in CSV's order."""
    return [*group_by, "children", *(f"{s}_{k}" for s in STATS for k in ("count", *QUANTILES)),
            *(f"{x}_deadline_{p}" for x in DEADLINES for p in ("met", "decided")),
            *(f"met_{x}_deadline" for x in DEADLINES)]  # fmt: skip


def _nested_row(row: dict[str, Any]) -> dict[str, Any]:
    """A flat timeliness row as the JSON nests it: each statistic and each deadline an object of its own
    (`hours_to_allocation.median`, `allocation_deadline.met`), in `withheld_fields` and `small` too."""
    item = {k: v for k, v in row.items() if not any(k.startswith(f"{s}_") for s in STATS) and "_deadline_" not in k}
    for s in STATS:
        item[s] = {k: row[f"{s}_{k}"] for k in ("count", *QUANTILES)}
    for x in DEADLINES:
        item[f"{x}_deadline"] = {p: row[f"{x}_deadline_{p}"] for p in ("met", "decided")}
    for listed in ("withheld_fields", "small"):
        if listed in item:
            item[listed] = [_nested(f) for f in item[listed]]
    return item


_STATISTICS = [(f"{s}_count", [f"{s}_{k}" for k in QUANTILES]) for s in STATS]
"""Each statistic's count and the quantiles withheld with it."""


def _disclosed_timeliness(raw: list[dict[str, Any]], q: ChildQuery, d: Discloser) -> list[dict[str, Any]]:
    """Timeliness rows perturbed (empty cells listed, withheld) or true."""
    counts = list(TIMELINESS_COUNTS)
    if d.perturbs:
        zero: dict[str, int | None] = {k: 0 for c in counts for k in (c, f"_ck_{c}")}
        zero.update({f"{s}_{k}": None for s in STATS for k in QUANTILES})
        raw = with_empty_cells(raw, q.group_by, zero, **_period(q))
    rows = []
    for r in raw:
        row = d.row(r, counts, statistics=_STATISTICS)
        for x in DEADLINES:
            met, decided = f"{x}_deadline_met", f"{x}_deadline_decided"
            row[f"met_{x}_deadline"] = share(row[met], row[decided])
            if row[f"met_{x}_deadline"] is None and {met, decided} & set(row.get("withheld_fields", ())):
                row["withheld_fields"].append(f"met_{x}_deadline")
        rows.append(row)
    rows = in_natural_order(rows, q.group_by)
    d.check_published([r["children"] for r in rows])
    return rows
