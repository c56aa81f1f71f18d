"""Counting children per group, with filters, and disclosure control."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .dimensions import DIMENSIONS

Disclosure = Literal["suppress", "round", "none"]


@dataclass(frozen=True)
class ChildQuery:
    referred_from: date | None
    referred_to: date | None
    as_of: date
    group_by: tuple[str, ...]
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _where(q: ChildQuery, params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """WHERE clauses and lateral joins for the query's period and filters."""
    where = ["c.referred", "c.received_on <= :as_of"]
    joins: list[str] = []
    params["as_of"] = q.as_of
    if q.referred_from:
        where.append("c.received_on >= :referred_from")
        params["referred_from"] = q.referred_from
    if q.referred_to:
        where.append("c.received_on <= :referred_to")
        params["referred_to"] = q.referred_to
    for i, (name, wanted) in enumerate(sorted(q.filters.items())):
        dim = DIMENSIONS[name]
        params[f"f{i}"] = list(wanted)
        if dim.multi:
            where.append(f"EXISTS (SELECT 1 FROM jsonb_array_elements_text({dim.sql}) AS fv(v) WHERE fv.v = ANY(:f{i}))")
        else:
            where.append(f"{dim.sql} = ANY(:f{i})")
    return where, joins


async def count_children(session: AsyncSession, q: ChildQuery) -> tuple[list[dict[str, Any]], int]:
    params: dict[str, Any] = {}
    where, joins = _where(q, params)
    selects = []
    for i, name in enumerate(q.group_by):
        dim = DIMENSIONS[name]
        if dim.multi:
            joins.append(f"CROSS JOIN LATERAL jsonb_array_elements_text({dim.sql}) AS m{i}(v)")
            selects.append(f"m{i}.v AS g{i}")
        else:
            selects.append(f"{dim.sql} AS g{i}")
    base = f"FROM metrics.child c {' '.join(joins)} WHERE {' AND '.join(where)}"
    total_where, _ = _where(q, {})
    total = int(
        (await session.execute(text(f"SELECT count(*) FROM metrics.child c WHERE {' AND '.join(total_where)}"), params)).scalar()
        or 0
    )
    if not q.group_by:
        return [], total
    cols = ", ".join(selects)
    groups = ", ".join(f"g{i}" for i in range(len(q.group_by)))
    rows = (
        await session.execute(
            text(f"SELECT {cols}, count(DISTINCT c.child_id) AS n {base} GROUP BY {groups} ORDER BY {groups}"), params
        )
    ).all()
    out = []
    for row in rows:
        item: dict[str, Any] = {name: row[i] for i, name in enumerate(q.group_by)}
        item["children"] = int(row.n)
        out.append(item)
    return out, total


def disclose(count: int, mode: Disclosure) -> tuple[int | None, bool]:
    """A published count: (value, suppressed). 1–4 is suppressed; `round` rounds to the nearest 5."""
    if mode == "suppress" and 1 <= count <= 4:
        return None, True
    if mode == "round":
        return int(5 * ((count + 2.5) // 5)), False
    return count, False
