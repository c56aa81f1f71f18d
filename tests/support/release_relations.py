"""What the catalogue's structure tells any reader about the true counts behind a release's published
values (for tests/metrics/test_release_attacks.py, through `release_attacker`). Pure: no database.

1. **Populations.** Every published count (a cell, a margin, a total, a caseload flow or stock, a
   timeliness count) counts a population of children: `Pop`, canonical, so that the same children
   reached through different tables are one unknown (the year margin of two tables, `referrals_in` of a
   month and that month's cell, a timeliness table's `children` and the referrals of its period and
   region, year 2026 and its only month listed so far). `layouts` lists every count a release publishes
   (every cell of every table's grid, margins, totals), `read_release` reads them from the tables' JSON.
2. **Relations.** `relations` derives true-count equalities from the catalogue's structure, by family: a
   cell is the sum of the cells one dimension finer (margins, totals, and every partial margin as an
   unknown of its own: `table`); periods tile longer ones (months and quarters make years and financial
   years: `periods`); local authorities make regions, regions England and Wales (`geography`); a month's
   stock is the last one's plus what came in less what went out (`caseload`); and a timeliness count is
   at most the count it is part of (`timeliness`). They hold for any children whose values are among
   those a release lists (a child with a former authority's code counts in its region and the margins but
   in no authority's cell: there a region is at least, not exactly, its authorities); the test checks that
   every true count of the planted cohort satisfies the bounds they lead to.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ictg_common.reference import REGION_SLUGS, REGIONS, local_authorities
from ictg_metrics.children.caseload import months as month_list
from ictg_metrics.dimensions import domain
from ictg_metrics.releases.catalogue import CATALOGUE, Table
from ictg_metrics.releases.compute import counts_of

# Timeliness counts that count the same children as another (every referral has a referral delay).
SAME_AS = {
    "referral_delay_days_count": "children",
    "referral_delay_working_days_count": "children",
    "referral_deadline_decided": "children",
    "days_to_first_contact_count": "hours_to_first_contact_count",
}
# (part, whole): the children of the first count are among those of the second.
PART_OF = (
    ("referral_deadline_met", "children"),
    ("allocation_deadline_met", "hours_to_allocation_count"),
    ("hours_to_allocation_count", "allocation_deadline_decided"),
    ("allocation_deadline_decided", "children"),
    ("first_contact_deadline_met", "hours_to_first_contact_count"),
    ("hours_to_first_contact_count", "first_contact_deadline_decided"),
    ("first_contact_deadline_decided", "children"),
)
# Values a child can leave as time passes without any new record (a pending decision gets one, a child not
# missing goes missing): populations with them may shrink from one release to the next.
CHANGING = {("missing_in_service", False), ("long_term_missing", False)}
CHANGING_DIMENSIONS = {"nrm_reasonable_grounds", "nrm_conclusive_grounds"}


@dataclass(frozen=True)
class Pop:
    """The children a published count counts, as at its release: `field` (`children`, a timeliness
    count, or `in_service_end` for a caseload stock), the period's `basis` (referral or exit date, `stock`
    for a month's end, None for all periods) and its `months` (only those listed in the release), the
    geography (`("region", slug)`, `("local_authority", code)` or None: England and Wales), the other
    dimensions, and whether only exited children count."""

    field: str
    basis: str | None
    months: frozenset[str]
    geo: tuple[str, str] | None
    dims: frozenset[tuple[str, Any]] = frozenset()
    exited: bool = False

    def without(self, **changes: Any) -> Pop:
        """The same population but for `changes` (a field, the months, the geography, ...)."""
        return replace(self, **changes)

    @property
    def grows(self) -> bool:
        """Whether a later release can only count more of these children (never fewer)."""
        if self.basis not in ("referral", "exit"):
            return False  # all periods (grows with new months, but is not the same period) or a stock
        return not any(d in CHANGING_DIMENSIONS or (d, v) in CHANGING for d, v in self.dims)


def month_of(day: date) -> str:
    return f"{day:%Y-%m}"


def period_months(dimension: str, value: str, *, first: str, last: str) -> frozenset[str]:
    """The months of a period value (`2025-06`, `2025-Q2`, `2025`, `2025-26`), those from `first` to `last`."""
    if dimension.endswith("_month"):
        months = [value]
    elif dimension.endswith("_quarter"):
        year, q = value.split("-Q")
        months = [f"{year}-{m:02d}" for m in range(3 * int(q) - 2, 3 * int(q) + 1)]
    elif dimension.endswith("_financial_year"):
        start = int(value[:4])
        months = [f"{start}-{m:02d}" for m in range(4, 13)] + [f"{start + 1}-{m:02d}" for m in range(1, 4)]
    elif dimension.endswith("_year"):
        months = [f"{value}-{m:02d}" for m in range(1, 13)]
    else:
        raise ValueError(f"{dimension} is not a period")
    return frozenset(m for m in months if first <= m <= last)


def _geo(table: Table, values: Mapping[str, Any]) -> tuple[str, str] | None:
    g = table.geography_dimension
    return (g, values[g]) if g and g in values else None


def pop_of(table: Table, values: Mapping[str, Any], count: str, *, first: str, last: str) -> Pop:
    """The population behind count `count` of the row of `table` with these grouping values (a cell, a
    margin: the period alone, a total: none, or any partial margin in between)."""
    geo = _geo(table, values)
    if table.measure == "caseload":
        month = frozenset({values["month"]})
        if count == "referrals_in":
            return Pop("children", "referral", month, geo)
        if count == "exits_out":
            return Pop("children", "exit", month, geo, exited=True)
        return Pop("in_service_end", "stock", month, geo)
    period = table.period_dimension
    assert period is not None
    exited = table.filters.get("exited") == (True,)
    dims = frozenset((d, values[d]) for d in table.dimensions if d in values)
    if period not in values:
        return Pop(SAME_AS.get(count, count), None, frozenset(), geo, dims, exited)
    months = period_months(period, values[period], first=first, last=last)
    return Pop(SAME_AS.get(count, count), table.basis, months, geo, dims, exited)


@dataclass(frozen=True)
class Layout:
    """A table as a release lays it out: every value of each grouping dimension (all cells are listed)."""

    table: Table
    values: dict[str, list[Any]]  # grouping dimension (and `month` for caseload) → its listed values
    first: str
    last: str

    @property
    def dims(self) -> list[str]:
        return list(self.values)

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(`cell`, `margin` or `total`, grouping values) of every published row."""
        names = self.dims
        for combination in itertools.product(*self.values.values()):
            yield "cell", dict(zip(names, combination, strict=True))
        if self.table.measure != "caseload" and len(self.table.group_by) > 1:
            period = names[0]
            for value in self.values[period]:
                yield "margin", {period: value}
        if self.table.measure == "children":
            yield "total", {}

    def counts(self) -> Iterator[tuple[str, dict[str, Any], str, Pop]]:
        """(kind, grouping values, count, population) of every published count."""
        for kind, values in self.rows():
            counts = ("children",) if kind == "total" else counts_of(self.table)
            for count in counts:
                yield kind, values, count, pop_of(self.table, values, count, first=self.first, last=self.last)


def layout(table: Table, *, as_at: date, first: date) -> Layout:
    """How a release as at `as_at` lays `table` out, listing periods from `first` (the service's start)."""
    values: dict[str, list[Any]] = {}
    for g in table.group_by:
        listed = domain(g, referred_from=first, referred_to=None, as_of=as_at) or []
        values[g] = [v for v in listed if v is not None] if table.filters.get("exited") == (True,) else listed
    if table.measure == "caseload":
        values["month"] = month_list(first, as_at)
    return Layout(table, values, month_of(first), month_of(as_at))


def layouts(*, as_at: date, first: date) -> list[Layout]:
    return [layout(t, as_at=as_at, first=first) for t in CATALOGUE]


def read_release(bodies: Mapping[str, Mapping[str, Any]], *, as_at: date, first: date) -> dict[Pop, list[int | None]]:
    """Every published count of a release's tables (their JSON, by table id) by population: a list of the
    values published for it (one per table and count that publish it; None: withheld)."""
    out: dict[Pop, list[int | None]] = defaultdict(list)
    for lay in layouts(as_at=as_at, first=first):
        body = bodies[lay.table.id]
        group = lay.dims
        listed = [("cell", r) for r in body["rows"]] + [("margin", r) for r in body.get("margins", [])]
        if "total" in body:
            listed.append(("total", body["total"]))
        for kind, row in listed:
            values = {g: row[g] for g in (group if kind == "cell" else group[:1] if kind == "margin" else [])}
            counts = ("children",) if kind == "total" else counts_of(lay.table)
            for count in counts:
                out[pop_of(lay.table, values, count, first=lay.first, last=lay.last)].append(row[count])
    return dict(out)


# --- relations ------------------------------------------------------------------------------------------


def _la_regions() -> dict[str, list[str]]:
    slug = dict(zip(REGIONS, REGION_SLUGS, strict=True))
    out: dict[str, list[str]] = defaultdict(list)
    for la in local_authorities():
        out[slug[la.region]].append(la.code)
    return dict(out)


def _quarter(month: str) -> str:
    return f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"


def _previous(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    return f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}"


def _sum(whole: Pop, parts: Iterable[Pop]) -> list[tuple[Pop, int]]:
    return [(whole, 1), *((p, -1) for p in parts)]


FAMILIES = ("table", "periods", "geography", "caseload", "timeliness", "releases")
"""The kinds of relation: within a table (margins, totals), nested periods, the geography hierarchy, the
caseload's stocks and flows, timeliness counts within each other, and two releases' shared populations."""


def relations(lays: Sequence[Layout]) -> tuple[dict[str, list[list[tuple[Pop, int]]]], list[tuple[Pop, Pop]]]:
    """The true-count equalities among the populations of one release, by family (each a list of
    (population, coefficient) summing to 0), and pairs (part, whole) of timeliness counts. They hold for
    any children: the test checks that every true count satisfies the bounds they lead to."""
    sums: dict[str, list[list[tuple[Pop, int]]]] = {"table": [r for lay in lays for r in _margins(lay)]}
    pops = {p for r in sums["table"] for p, _ in r} | {p for lay in lays for *_, p in lay.counts()}
    sums["periods"] = list(_tilings(pops))
    sums["geography"] = list(_geographies(pops))
    sums["caseload"] = list(_stocks(pops, first=lays[0].first))
    parts = [(p.without(field=part), p) for p in pops for part, whole in PART_OF if p.field == whole]
    return sums, [(part, whole) for part, whole in parts if part in pops]


def _margins(lay: Layout) -> Iterator[list[tuple[Pop, int]]]:
    """Within a table: each (partial) margin is the sum of the cells one dimension finer, whatever the
    period; the total is the sum of the periods' margins."""
    table = lay.table
    if table.measure == "caseload":
        return
    period, *rest = lay.dims
    counts = sorted({SAME_AS.get(c, c) for c in counts_of(table)})

    def pop(values: dict[str, Any], count: str) -> Pop:
        return pop_of(table, values, count, first=lay.first, last=lay.last)

    for count in counts:
        for pv in lay.values[period]:
            for size in range(len(rest)):
                for kept in itertools.combinations(rest, size):
                    for combination in itertools.product(*(lay.values[d] for d in kept)):
                        values = {period: pv, **dict(zip(kept, combination, strict=True))}
                        for d in (d for d in rest if d not in kept):
                            yield _sum(pop(values, count), (pop({**values, d: u}, count) for u in lay.values[d]))
        if table.measure == "children":
            yield _sum(pop({}, count), (pop({period: pv}, count) for pv in lay.values[period]))


def _key(p: Pop, *drop: str) -> tuple[Any, ...]:
    return tuple(getattr(p, f) for f in ("field", "basis", "months", "geo", "dims", "exited") if f not in drop)


def _tilings(pops: set[Pop]) -> Iterator[list[tuple[Pop, int]]]:
    """Months, and quarters, tile every longer period of the same children (years, financial years)."""
    by_rest: dict[tuple[Any, ...], set[frozenset[str]]] = defaultdict(set)
    for p in pops:
        if p.basis in ("referral", "exit"):
            by_rest[_key(p, "months")].add(p.months)
    for p in pops:
        if p.basis not in ("referral", "exit") or len(p.months) < 2:
            continue
        present = by_rest[_key(p, "months")]
        for unit in (lambda m: m, _quarter):
            pieces: dict[str, set[str]] = defaultdict(set)
            for m in p.months:
                pieces[unit(m)].add(m)
            tiles = [frozenset(s) for s in pieces.values()]
            if len(tiles) > 1 and all(t in present for t in tiles):
                yield _sum(p, (p.without(months=t) for t in tiles))


def _geographies(pops: set[Pop]) -> Iterator[list[tuple[Pop, int]]]:
    """Local authorities make their region, regions make England and Wales."""
    las = _la_regions()
    for p in pops:
        if p.geo is None:
            parts = [p.without(geo=("region", r)) for r in REGION_SLUGS]
        elif p.geo[0] == "region":
            parts = [p.without(geo=("local_authority", code)) for code in las.get(p.geo[1], [])]
        else:
            continue
        if parts and all(q in pops for q in parts):
            yield _sum(p, parts)


def _stocks(pops: set[Pop], *, first: str) -> Iterator[list[tuple[Pop, int]]]:
    """In service at a month's end: at the last month's end, plus referrals in, less exits out (the
    service began with the first month listed: nobody before)."""
    for p in pops:
        if p.basis != "stock":
            continue
        (month,) = p.months
        flows = [(p.without(field="children", basis="referral"), -1),
                 (p.without(field="children", basis="exit", exited=True), 1)]  # fmt: skip
        if month == first:
            yield [(p, 1), *flows]
        else:
            yield [(p, 1), (p.without(months=frozenset({_previous(month)})), -1), *flows]
