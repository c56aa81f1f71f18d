"""The dashboard's charts: which published values of a release each one shows. Pure functions of a stored
release's tables, so a chart can only ever show what the release published: a withheld value stays
withheld (a gap in the chart, `[c]` in its table) and nothing is summed, differenced or recounted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from ..releases.catalogue import TABLES
from ..releases.columns import column
from ..releases.periods import is_partial, period_column

Kind = Literal["line", "bar", "hbar"]
Value = int | float | None


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[Value, ...]  # one per category; None where withheld or not applicable
    marks: tuple[str, ...]  # one per category: the value as the table shows it (`[c]`, `[x]` or the number)


@dataclass(frozen=True)
class ChartData:
    id: str
    title: str
    table: str  # the release table the values are from
    kind: Kind
    category_header: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str  # the y axis (x for hbar)
    summary: str  # the chart's text alternative

    def csv_rows(self) -> list[list[Any]]:
        """The chart's values as tidy CSV rows (withheld `c`, not applicable empty), header first."""
        rows: list[list[Any]] = [[self.category_header, *(s.label for s in self.series)]]
        for i, c in enumerate(self.categories):
            rows.append([c, *(_csv(s.marks[i]) for s in self.series)])
        return rows


def _csv(mark: str) -> str:
    return {"[c]": "c", "[x]": ""}.get(mark, mark)


def _mark(row: dict[str, Any] | None, field: str) -> tuple[Value, str]:
    if row is None:
        return None, "[x]"
    value = row.get(field)
    if value is None:
        return None, "[c]" if field in (row.get("withheld_fields") or ()) or field == "children" else "[x]"
    return value, str(value)


def _pick(rows: list[dict[str, Any]], **where: Any) -> dict[str, Any] | None:
    found = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
    return found[0] if len(found) == 1 else None


def _period_label(table_id: str, value: Any, as_at: date) -> str:
    return f"{value} (partial)" if is_partial(TABLES[table_id], value, as_at=as_at) else str(value)


def _periods(rows: list[dict[str, Any]], key: str, last: int) -> list[Any]:
    seen = list(dict.fromkeys(r[key] for r in rows if r.get(key) is not None))
    return seen[-last:]


def _over_periods(
    tables: dict[str, dict[str, Any]], as_at: date, *, id: str, table: str, title: str, kind: Kind, last: int,
    series: list[tuple[str, dict[str, Any], str]], unit: str, words: str,
) -> ChartData | None:  # fmt: skip
    """A chart whose categories are a table's last `last` periods, one series per (label, cell, field)."""
    body = tables.get(table)
    if body is None:
        return None
    key = period_column(TABLES[table])
    rows = body["rows"]
    periods = _periods(rows, key, last)
    out = []
    for label, where, field in series:
        picked = [_mark(_pick(rows, **{key: p}, **where), field) for p in periods]
        out.append(Series(label, tuple(v for v, _ in picked), tuple(m for _, m in picked)))
    labels = tuple(_period_label(table, p, as_at) for p in periods)
    span = f"{labels[0]} to {labels[-1]}" if labels else "no periods"
    return ChartData(id, title, table, kind, column(TABLES[table], key).title, labels, tuple(out), unit,
                     f"{words}, {span}. The values are in the table below the chart.")  # fmt: skip


def _by_category(
    tables: dict[str, dict[str, Any]], as_at: date, *, id: str, table: str, title: str, dimension: str,
    name_column: str | None = None, last: int = 2, field: str = "children", unit: str = "children", words: str,
) -> ChartData | None:  # fmt: skip
    """A horizontal bar chart of a table's categories (`dimension`), one series per period (the last `last`)."""
    body = tables.get(table)
    if body is None:
        return None
    t = TABLES[table]
    key = period_column(t)
    rows = body["rows"]
    periods = _periods(rows, key, last)
    col = column(t, dimension)
    values = list(dict.fromkeys(r.get(dimension) for r in rows))

    def label(v: Any) -> str:
        named = next(
            (r[name_column] for r in rows if name_column and r.get(dimension) == v and r.get(name_column)), None
        )
        return str(named if named is not None else col.label(v))

    labels = tuple(label(v) for v in values)
    series = []
    for p in periods:
        picked = [_mark(_pick(rows, **{dimension: v, key: p}), field) for v in values]
        series.append(Series(_period_label(table, p, as_at), tuple(v for v, _ in picked), tuple(m for _, m in picked)))
    return ChartData(id, title, table, "hbar", col.title, labels, tuple(series), unit,
                     f"{words}, by {col.title.lower()}, for {' and '.join(s.label for s in series) or 'no period'}. "
                     "The values are in the table below the chart.")  # fmt: skip


def _combined(rows: list[dict[str, Any]], a: str, b: str) -> list[tuple[Any, Any]]:
    return list(dict.fromkeys((r.get(a), r.get(b)) for r in rows))


def _nrm(tables: dict[str, dict[str, Any]], as_at: date) -> ChartData | None:
    table = "nrm_outcomes_by_year"
    body = tables.get(table)
    if body is None:
        return None
    t = TABLES[table]
    rg, cg = column(t, "nrm_reasonable_grounds"), column(t, "nrm_conclusive_grounds")
    combos = _combined(body["rows"], rg.name, cg.name)
    series = [(f"Reasonable grounds {rg.label(a).lower()}, conclusive grounds {cg.label(b).lower()}",
               {rg.name: a, cg.name: b}, "children") for a, b in combos]  # fmt: skip
    return _over_periods(tables, as_at, id="nrm", table=table, title="NRM decisions, by year of referral",
                         kind="bar", last=3, series=series, unit="children",
                         words="Bar chart of children by their National Referral Mechanism reasonable and conclusive "
                         "grounds decisions, by year of referral")  # fmt: skip


CHARTS: tuple[Callable[[dict[str, dict[str, Any]], date], ChartData | None], ...] = (
    lambda t, d: _over_periods(t, d, id="referrals", table="referrals_by_month", title="Children referred, by month",
                               kind="line", last=24, series=[("Children referred", {}, "children")], unit="children",
                               words="Line chart of children referred to the service each month"),
    lambda t, d: _over_periods(t, d, id="caseload", table="caseload_by_month",
                               title="Caseload: children in the service at each month's end, referrals and exits",
                               kind="line", last=24, unit="children",
                               series=[("In the service at the month's end", {}, "in_service_end"),
                                       ("Referrals received", {}, "referrals_in"), ("Exits", {}, "exits_out")],
                               words="Line chart of the caseload at each month's end, referrals in and exits out"),
    lambda t, d: _by_category(t, d, id="regions", table="referrals_by_financial_year_and_region",
                              title="Children referred, by region and financial year", dimension="region",
                              name_column="region_name", words="Bar chart of children referred"),
    lambda t, d: _over_periods(t, d, id="timeliness", table="timeliness_by_quarter",
                               title="Time to allocation and to first contact attempt (median hours), by quarter",
                               kind="line", last=8, unit="hours",
                               series=[("Time to allocation: median", {}, "hours_to_allocation_median"),
                                       ("Time to first contact attempt: median", {}, "hours_to_first_contact_median")],
                               words="Line chart of the median hours from referral to allocation and to the first "
                               "contact attempt, by quarter of referral"),
    lambda t, d: _over_periods(t, d, id="missing", table="missing_by_year",
                               title="Children who went missing while in the service, by year of referral",
                               kind="bar", last=5, unit="children",
                               series=[("Went missing, not long-term", {"missing_in_service": True,
                                                                        "long_term_missing": False}, "children"),
                                       ("Long-term missing", {"missing_in_service": True, "long_term_missing": True},
                                        "children")],
                               words="Bar chart of children who went missing while in the service, and of those "
                               "long-term missing, by year of referral"),
    _nrm,
    lambda t, d: _by_category(t, d, id="exits", table="exit_reasons_by_financial_year",
                              title="Children who left the service, by reason and financial year of exit",
                              dimension="exit_reason", words="Bar chart of children who left the service"),
    lambda t, d: _by_category(t, d, id="support", table="length_of_support_by_exit_year",
                              title="Length of support: children who left the service, by months in the service",
                              dimension="months_in_service_band", words="Bar chart of children who left the service"),
)  # fmt: skip


def charts(tables: dict[str, dict[str, Any]], as_at: date) -> list[ChartData]:
    """Every chart of a release that has its table."""
    return [c for make in CHARTS if (c := make(tables, as_at)) is not None]
