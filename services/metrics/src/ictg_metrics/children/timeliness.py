"""Timeliness per group: referral delay (calendar and working days), hours to allocation, hours and days
to first contact attempt, and the deadlines met (SQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ..disclosure.cellkey import RECORD_KEY_MODULUS as MOD
from .query import PARAMS_CTE, ChildQuery, grouped, where_clause

# Each statistic: its name and its SQL (NULL where it does not apply as of `as_of`).
STATS = ("referral_delay_days", "referral_delay_working_days", "hours_to_allocation", "hours_to_first_contact",
         "days_to_first_contact")  # fmt: skip
DEADLINES = ("referral", "allocation", "first_contact")
SHARES = tuple(f"met_{d}_deadline" for d in DEADLINES)
QUANTILES = ("median", "p75", "p90")
TIMELINESS_COUNTS = ("children", *(f"{s}_count" for s in STATS),
                     *(f"{d}_deadline_{p}" for d in DEADLINES for p in ("met", "decided")))  # fmt: skip
"""Every count of a timeliness row, in the order of its columns: each is 0 or 1 for one child."""

_AS_OF_END = "((p.as_of + 1)::timestamp AT TIME ZONE 'Europe/London')"  # the end of as_of, London time
_DELAY = "c.referral_delay_days"
_DELAY_WD = "c.referral_delay_working_days"
# date_part, not extract: double precision, where extract's numeric made each quantile's sort 2-3 times slower
_ALLOC_H = "(CASE WHEN c.allocated_on <= p.as_of THEN date_part('epoch', c.allocated_at - c.received_at) / 3600 END)"
_CONTACT_H = (
    "(CASE WHEN c.first_contact_on <= p.as_of THEN date_part('epoch', c.first_contact_at - c.received_at) / 3600 END)"
)


_CONTACT_D = "(CASE WHEN c.first_contact_on <= p.as_of THEN c.first_contact_on - c.received_on END)"
_EXPRS = (_DELAY, _DELAY_WD, _ALLOC_H, _CONTACT_H, _CONTACT_D)


def _deadline(done_at: str, done_on: str, due: str) -> tuple[str, str]:
    """(met, decided) conditions: met before the deadline; decided once met, late, or past due by as_of."""
    due_by = f"c.{due}"
    done = f"({done_on} <= p.as_of)"
    return f"{done} AND {done_at} < {due_by}", f"({done} OR {due_by} <= {_AS_OF_END})"


def _counted(alias: str, condition: str = "true") -> str:
    """`count` and cell key of the children meeting `condition` (on the per-child row `x`), as `<alias>`
    and `_ck_<alias>`."""
    return f"count(*) FILTER (WHERE {condition}) AS {alias}, coalesce(sum(x.k) FILTER (WHERE {condition}), 0) % {MOD} AS _ck_{alias}"


async def timeliness(session: AsyncSession, q: ChildQuery, *, values: bool = False) -> list[dict[str, Any]]:
    """Flat rows: per group `children`, per statistic `<stat>_count` and its quantiles, per deadline
    `<deadline>_deadline_met` and `_decided`; every count with its cell key (`_ck_<count>`). With `values`,
    each statistic's values instead of its quantiles (`<stat>_values`, a list), for quantiles computed apart.

    Each child's statistics and deadlines are computed once, in a subquery kept apart (`OFFSET 0`: inlined,
    each expression would be computed again by every aggregate that reads it)."""
    params: dict[str, Any] = {}
    where = where_clause(q, params)
    selects, joins = grouped(q)
    alloc_met, alloc_decided = _deadline("c.allocated_at", "c.allocated_on", "allocation_due_by")
    contact_met, contact_decided = _deadline("c.first_contact_at", "c.first_contact_on", "first_contact_due_by")
    deadlines = {"referral": (f"{_DELAY} <= 1", f"{_DELAY} IS NOT NULL"), "allocation": (alloc_met, alloc_decided),
                 "first_contact": (contact_met, contact_decided)}  # fmt: skip
    keys = [f"g{i}" for i in range(len(q.group_by))]
    per_child = [
        *selects, "c.record_key AS k",
        *(f"{expr} AS {name}" for name, expr in zip(STATS, _EXPRS, strict=True)),
        *(f"{cond} AS {d}_{part}" for d, (met, decided) in deadlines.items()
          for part, cond in (("met", met), ("decided", decided))),
    ]  # fmt: skip
    columns = [
        *(f"x.{k}" for k in keys),
        _counted("children"),
        *(f"{_counted(f'{name}_count', f'x.{name} IS NOT NULL')}, "
          + (f"array_agg(x.{name}) FILTER (WHERE x.{name} IS NOT NULL) AS {name}_v" if values else
             f"percentile_cont(ARRAY[0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY x.{name}) AS {name}_q") for name in STATS),
        *(_counted(f"{d}_deadline_{part}", f"x.{d}_{part}") for d in deadlines for part in ("met", "decided")),
    ]  # fmt: skip
    sql = (
        f"{PARAMS_CTE} SELECT {', '.join(columns)} FROM (SELECT {', '.join(per_child)} "
        f"FROM metrics.child c CROSS JOIN p {' '.join(joins)} WHERE {where} OFFSET 0) AS x"
        + (f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else "")
    )
    rows = []
    for r in (await session.execute(text(sql), params)).mappings().all():
        if not keys and not r["children"]:
            continue
        row: dict[str, Any] = {name: r[f"g{i}"] for i, name in enumerate(q.group_by)}
        row.update({k: int(v) for k, v in r.items() if k not in keys and not k.endswith(("_q", "_v"))})
        for name in STATS:
            if values:
                row[f"{name}_values"] = [float(v) for v in r[f"{name}_v"] or ()]
                continue
            quantiles = r[f"{name}_q"] or [None, None, None]
            row.update({f"{name}_{k}": _round(v) for k, v in zip(QUANTILES, quantiles, strict=True)})
        rows.append(row)
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def share(met: int | None, of: int | None) -> float | None:
    """The share meeting a deadline, from published (perhaps perturbed) counts: None if either is withheld."""
    return round(min(met / of, 1.0), 4) if met is not None and of else None
