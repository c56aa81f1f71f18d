"""Timeliness per group: referral delay, hours to allocation and to first contact attempt (SQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .query import PARAMS_CTE, ChildQuery, grouped, where_clause

STATS = ("referral_delay_days", "hours_to_allocation", "hours_to_first_contact")
SHARES = ("met_referral_deadline", "met_allocation_deadline", "met_first_contact_deadline")
QUANTILES = ("median", "p75", "p90")

_AS_OF_END = "((p.as_of + 1)::timestamp AT TIME ZONE 'Europe/London')"  # the end of as_of, London time
_DELAY = "c.referral_delay_days"
_ALLOC_H = "(CASE WHEN c.allocated_on <= p.as_of THEN extract(epoch FROM c.allocated_at - c.received_at) / 3600 END)"
_CONTACT_H = (
    "(CASE WHEN c.first_contact_on <= p.as_of THEN extract(epoch FROM c.first_contact_at - c.received_at) / 3600 END)"
)


def _deadline(done_at: str, done_on: str, due: str) -> tuple[str, str]:
    """(met, decided) conditions: met before the deadline; decided once met, late, or past due by as_of."""
    due_by = f"c.{due}"
    done = f"({done_on} <= p.as_of)"
    return f"{done} AND {done_at} < {due_by}", f"({done} OR {due_by} <= {_AS_OF_END})"


def _stat(expr: str, alias: str) -> str:
    return (
        f"count({expr}) AS {alias}_n, "
        f"percentile_cont(ARRAY[0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY {expr}) AS {alias}_q"
    )


async def timeliness(session: AsyncSession, q: ChildQuery) -> list[dict[str, Any]]:
    params: dict[str, Any] = {}
    where = where_clause(q, params)
    selects, joins = grouped(q)
    alloc_met, alloc_decided = _deadline("c.allocated_at", "c.allocated_on", "allocation_due_by")
    contact_met, contact_decided = _deadline("c.first_contact_at", "c.first_contact_on", "first_contact_due_by")
    keys = [f"g{i}" for i in range(len(q.group_by))]
    sql = (
        f"{PARAMS_CTE} SELECT {', '.join([*selects, 'count(*) AS children'])}, "
        f"{_stat(_DELAY, 'd')}, {_stat(_ALLOC_H, 'a')}, {_stat(_CONTACT_H, 'f')}, "
        f"count(*) FILTER (WHERE {_DELAY} <= 1) AS d_met, "
        f"count(*) FILTER (WHERE {alloc_met}) AS a_met, count(*) FILTER (WHERE {alloc_decided}) AS a_decided, "
        f"count(*) FILTER (WHERE {contact_met}) AS f_met, count(*) FILTER (WHERE {contact_decided}) AS f_decided "
        f"FROM metrics.child c CROSS JOIN p {' '.join(joins)} WHERE {where}"
        + (f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else "")
    )
    rows = []
    for r in (await session.execute(text(sql), params)).mappings().all():
        if not keys and not r["children"]:
            continue
        row: dict[str, Any] = {name: r[f"g{i}"] for i, name in enumerate(q.group_by)}
        row["children"] = int(r["children"])
        for name, alias in zip(STATS, ("d", "a", "f"), strict=True):
            quantiles = r[f"{alias}_q"] or [None, None, None]
            row[name] = {
                "count": int(r[f"{alias}_n"]),
                **{k: _round(v) for k, v in zip(QUANTILES, quantiles, strict=True)},
            }
        row["met_referral_deadline"] = _share(r["d_met"], r["d_n"])
        row["met_allocation_deadline"] = _share(r["a_met"], r["a_decided"])
        row["met_first_contact_deadline"] = _share(r["f_met"], r["f_decided"])
        rows.append(row)
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _share(met: int, of: int) -> float | None:
    return round(met / of, 4) if of else None
