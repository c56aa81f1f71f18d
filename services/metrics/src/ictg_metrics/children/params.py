"""The parameters every metrics endpoint takes (docs/disclosure.md says which tier takes which), parsed into a `ChildQuery`.

Anything a client can get wrong becomes a 422 problem with a JSON pointer, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import Query, Request

from ictg_common import clock
from ictg_common.errors import invalid

from ..dimensions import DIMENSIONS, Dimension
from ..runtime import metrics_runtime
from .query import ChildQuery

COMMON = frozenset({"referred_from", "referred_to", "as_of", "group_by", "disclosure", "format", "totals", "epsilon"})
Mode = Literal["dp", "perturb", "none"]
"""How an answer is disclosed: differential privacy (the default), the cell key method, or true counts."""
MIN_EPSILON, MAX_EPSILON = 0.01, 2.0
MAX_GROUPS = 3
COMMON_DOC = (
    "\n\n**Disclosure: three tiers.** Published tables of a fixed catalogue, for scope `metrics:read`, are at "
    "`/v1/releases`. These endpoints answer free questions, which need more than that."
    "\n\n*Differential privacy* (`disclosure=dp`, the default; scope `metrics:query`): every count of the answer "
    "(cells and total, each month's flows and stocks, every timeliness count) gets discrete Laplace noise "
    "(OpenDP) of scale sensitivity / epsilon, where the sensitivity is the most the answer's counts can move "
    "when one child is added or removed, and epsilon 0.5 by default (parameter `epsilon`, 0.01 to 2: smaller is "
    "noisier and cheaper); timeliness quantiles are picked from a fixed grid by OpenDP's exponential mechanism "
    "with half of the epsilon, shares come from the noisy counts. Noisy counts are clipped at 0; one under 10 "
    "is shown and listed in its row's `small`. Every answer states `privacy`: mechanism, epsilon, sensitivity, "
    "scale, `interval_95` (the noisy count is within it of the true one 95 % of the time) and your `budget`. "
    "Each principal (issuer, organisation, subject) may spend an epsilon of 4 per calendar month (London) by "
    "default; each distinct query spends its epsilon, and the same query again (measure, period, `as_of`, "
    "grouping, filters in any order, months, epsilon; JSON or CSV alike) gets its stored answer at no cost "
    "(`ICTG-Privacy-Replayed: true`). Past the budget: 403 with `resets_at` and `Retry-After`. `as_of` is a day "
    "already over (by default yesterday). It protects every child, however questions overlap (unions, "
    "differences, repeats): all the answers a principal gets in a month are together at most e^epsilon (e^4 at "
    "the default budget) times likelier with any one child than without. It does not hide what is true of large groups (their counts are accurate), makes "
    "small cells mostly noise, and does not stop principals who pool their answers (their budgets add up)."
    "\n\n*Cell key method* (`disclosure=perturb`, scope `metrics:read:unsuppressed`: a preview of what "
    "publication would show): every count is perturbed by the cell key method "
    "(ONS, Census 2021): the published value is the true one plus noise drawn by the cell's key, of mean 0, at "
    "most 5 either way and variance 3.78 with the shipped ptable (each answer's `ptable` states its `max_noise` "
    'and `variance`), and values under 10 are withheld (`null` with `"withheld": true` and the fields in '
    "`withheld_fields`; `c` in CSV). The same cell always has the same value in any query, so tables need "
    "not add up; empty cells are listed and withheld like small ones, so that 0 and 1-9 look alike. Perturbed "
    "figures cover whole months: `referred_from` is the 1st of a month, `referred_to` and `as_of` the last day "
    "of one, and `as_of` a month already over (by default the last one). Refused (422, with the reason): a table "
    "more than half of whose cells (for the caseload, its month-end stocks) would be withheld, one of more than "
    "2,000 cells, and more than 4 dimensions "
    "across `group_by` and filters. "
    "It keeps small cells from being read directly, not from being solved for by many overlapping free questions "
    "(unions and differences of filters): hence its scope. "
    "\n\n*True counts* (`disclosure=none`, scope `metrics:read:unsuppressed`): as counted, small cells included; "
    "every use and every refused attempt is audited with the query asked."
    "\n\n**Filters** `<dimension>=<value>` (repeat a name for several values); `GET /v1/metrics/dimensions` "
    "lists every dimension with its values and labels."
    "\n\n**CSV** (`format=csv` or `Accept: text/csv`) is tidy: one header row, one row per cell, no total row "
    "(ask `totals=only` for the totals), zeros as `0`, withheld values `c`, a value that does not apply empty. "
    "Headers `ICTG-Disclosure`, `ICTG-Ptable`, `ICTG-As-Of`, `ICTG-Filters` and the `Content-Disposition` "
    "file name say what the file holds."
)


@dataclass
class Common:
    """The query parameters every metrics endpoint takes (filters aside, which are checked by name)."""

    referred_from: Annotated[
        date | None,
        Query(description="Referrals received on or after this London date (perturbed: the 1st of a month)."),
    ] = None
    referred_to: Annotated[
        date | None,
        Query(description="Referrals received on or before this London date (perturbed: a month's last day)."),
    ] = None
    as_of: Annotated[
        date | None,
        Query(description="The state at the end of this London day. Under dp: a day already over, by default "
              "yesterday. Perturbed: the last day of a month already over, by default the last one; with "
              "disclosure=none any day, by default today."),
    ] = None  # fmt: skip
    group_by: Annotated[
        str | None, Query(description="Up to 3 dimensions, comma-separated, e.g. `gender,age_band`.",
                          examples=["gender"])
    ] = None  # fmt: skip
    disclosure: Annotated[
        Mode,
        Query(description="`dp` (differential privacy, scope metrics:query), `perturb` (the cell key method) or "
              "`none` (true counts); `perturb` and `none` need scope metrics:read:unsuppressed."),
    ] = "dp"  # fmt: skip
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="`csv` for CSV (or send `Accept: text/csv`).")
    ] = None
    totals: Annotated[
        Literal["only"] | None,
        Query(description="`only`: the totals alone, i.e. the same query without its grouping (for CSV, "
              "which has no total row)."),
    ] = None  # fmt: skip
    epsilon: Annotated[
        float | None,
        Query(ge=MIN_EPSILON, le=MAX_EPSILON, allow_inf_nan=False,
              description=f"disclosure=dp only: the privacy loss this query spends, {MIN_EPSILON} to {MAX_EPSILON} "
              "(default 0.5, or as configured). Smaller spends less of your monthly budget and adds more noise."),
    ] = None  # fmt: skip


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def whole_months(common: Common) -> None:
    """Perturbed figures describe whole months: `referred_from` the 1st of a month, `referred_to` and
    `as_of` the last day of one, `as_of` a month already over (by default the last one). Every count is
    as of `as_of` (nothing later is counted), so a later `referred_to` or caseload month adds nothing. With a period
    of any days, two periods a day apart would differ by that day's children, and rounded counts that
    cross a boundary between them would place single children (a differencing attack)."""
    if common.referred_from and common.referred_to and common.referred_from > common.referred_to:
        return  # refused as such by parse_query
    if common.referred_from is not None and common.referred_from.day != 1:
        raise invalid(
            "#query/referred_from",
            "with disclosure=perturb, referred_from is the 1st of a month "
            f"(e.g. {common.referred_from.replace(day=1).isoformat()}): perturbed figures cover whole months",
        )
    for name in ("referred_to", "as_of"):
        value = getattr(common, name)
        if value is not None and date(1990, 1, 1) <= value <= date(2200, 12, 1) and value != _month_end(value):
            raise invalid(
                f"#query/{name}",
                f"with disclosure=perturb, {name} is the last day of a month "
                f"(e.g. {_month_end(value).isoformat()}): perturbed figures cover whole months",
            )
    last_complete = clock.london_date(clock.utcnow()).replace(day=1) - timedelta(days=1)
    _as_of_at_most(
        common, last_complete, f"with disclosure=perturb, as_of is at most {last_complete.isoformat()}, the end of "
        "the last complete month: figures for a month still running change with each child, and asked day by day "
        "they would place single children",
    )  # fmt: skip


def _as_of_at_most(common: Common, latest: date, refusal: str) -> None:
    """`as_of` defaults to `latest` and may not be later (422 with `refusal`)."""
    if common.as_of is None:
        common.as_of = latest
    elif common.as_of > latest:
        raise invalid("#query/as_of", refusal)


def days_over(common: Common) -> None:
    """Under dp, `as_of` is a day already over (by default yesterday, London): an answer is stored and given
    again to the same query, and a day still running would have changed since."""
    yesterday = clock.london_date(clock.utcnow()) - timedelta(days=1)
    _as_of_at_most(
        common, yesterday, f"with disclosure=dp, as_of is at most {yesterday.isoformat()}, a day already over: an "
        "answer is stored and given again to the same query",
    )  # fmt: skip


def parse_group_by(group_by: str | None) -> tuple[str, ...]:
    groups = tuple(g.strip() for g in group_by.split(",") if g.strip()) if group_by else ()
    if len(groups) > MAX_GROUPS:
        raise invalid("#query/group_by", f"group by at most {MAX_GROUPS} dimensions")
    for g in groups:
        if g not in DIMENSIONS:
            raise invalid("#query/group_by", f"unknown dimension {g!r}; known: {', '.join(sorted(DIMENSIONS))}")
    if len(set(groups)) != len(groups):
        raise invalid("#query/group_by", "a dimension is repeated")
    return groups


def _value(dim: Dimension, raw: str) -> Any:
    pointer = f"#query/{dim.name}"
    if dim.kind == "bool":
        if raw not in ("true", "false"):
            raise invalid(pointer, f"{dim.name} is true or false, not {raw!r}")
        return raw == "true"
    if dim.kind == "int":
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 3:  # "²".isdigit() is true
            raise invalid(pointer, f"{dim.name} is a whole number, not {raw!r}")
        if dim.top is not None and int(raw) > dim.top:
            raise invalid(pointer, f"{dim.name} is at most {dim.top} ({dim.top} counts every {dim.name} over it)")
        return int(raw)
    if dim.values is not None and raw not in dim.values:
        raise invalid(pointer, f"unknown {dim.name} {raw!r}; known: {', '.join(dim.values)}")
    if len(raw) > 100:
        raise invalid(pointer, f"{dim.name} value too long")
    if not raw.isprintable():  # NUL and control characters: Postgres would refuse them (a 500)
        raise invalid(pointer, f"{dim.name} must be printable text")
    return raw


def parse_filters(request: Request, *, own: frozenset[str] = frozenset()) -> dict[str, tuple[Any, ...]]:
    filters: dict[str, tuple[Any, ...]] = {}
    for key in request.query_params:
        if key in COMMON or key in own:
            continue
        if key not in DIMENSIONS:
            raise invalid(f"#query/{key}", f"unknown parameter or dimension {key!r}")
        filters[key] = tuple(_value(DIMENSIONS[key], raw) for raw in request.query_params.getlist(key))
    return filters


def parse_query(request: Request, common: Common, *, own: frozenset[str] = frozenset()) -> ChildQuery:
    """The query an endpoint runs; `own` names the endpoint's own parameters (not filters)."""
    referred_from, referred_to, as_of = common.referred_from, common.referred_to, common.as_of
    if referred_from and referred_to and referred_from > referred_to:
        raise invalid("#query/referred_from", "referred_from is after referred_to")
    for name, value in (("referred_from", referred_from), ("referred_to", referred_to), ("as_of", as_of)):
        if value is not None and not date(1990, 1, 1) <= value <= date(2200, 12, 31):
            raise invalid(f"#query/{name}", f"{name} is out of range")
    return ChildQuery(
        referred_from=referred_from, referred_to=referred_to, as_of=as_of or clock.london_date(clock.utcnow()),
        group_by=parse_group_by(common.group_by), filters=parse_filters(request, own=own),
        long_term_missing_days=metrics_runtime(request.app).settings.long_term_missing_days,
    )  # fmt: skip


def parse_month(raw: str, pointer: str) -> date:
    try:
        year, month = raw.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        first = date(int(year), int(month), 1)
        if not date(1990, 1, 1) <= first <= date(2200, 12, 1):
            raise ValueError
        return first
    except ValueError:
        raise invalid(pointer, f"a month is YYYY-MM between 1990-01 and 2200-12, not {raw!r}") from None


def wants_csv(request: Request, fmt: str | None) -> bool:
    return fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))


def echo_filters(q: ChildQuery) -> dict[str, Any]:
    """The query's period and filters, as the response repeats them."""
    out: dict[str, Any] = {
        k: v.isoformat() for k, v in (("referred_from", q.referred_from), ("referred_to", q.referred_to)) if v
    }
    out.update({k: list(v) for k, v in q.filters.items()})
    return out


def as_text(echo: dict[str, Any]) -> dict[str, Any]:
    """The echoed filters as the API writes values in a query (`true`, not `True`): for headers and file names."""
    return {k: [("true" if x else "false") if isinstance(x, bool) else x for x in v] if isinstance(v, list) else v
            for k, v in echo.items()}  # fmt: skip
