"""Reconciliation: metrics' children by status against the case API's own counts (DESIGN.md §12)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import mint_token

from ..children.dimensions import DIMENSIONS
from ..settings import MetricsSettings

STATUSES = ("awaiting_allocation", "allocated", "exited")


class CasesUnavailable(Exception):
    """The case API did not answer as expected."""


def _token(settings: MetricsSettings) -> str:
    from ictg_common.reference import REGION_SLUGS

    return settings.cases_token or mint_token(
        secret=settings.auth_secret, sub="service:metrics", scopes=["cases:read"], audience=settings.auth_audience,
        regions=list(REGION_SLUGS), ttl_seconds=3600, service=True,
    )  # fmt: skip


async def case_counts(
    settings: MetricsSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, int]:
    """Cases per status, counted by paging through `GET /v1/cases?status=…` (500 a page)."""
    headers = {"Authorization": f"Bearer {_token(settings)}"}
    out: dict[str, int] = {}
    async with httpx.AsyncClient(
        base_url=settings.cases_url, transport=transport, headers=headers, timeout=30
    ) as client:
        for status in STATUSES:
            n, cursor = 0, None
            while True:
                params: dict[str, Any] = {"status": status, "limit": 500, **({"cursor": cursor} if cursor else {})}
                try:
                    r = await client.get("/v1/cases", params=params)
                except httpx.HTTPError as exc:
                    raise CasesUnavailable(repr(exc)) from exc
                if r.status_code != 200:
                    raise CasesUnavailable(f"case API answered {r.status_code}: {r.text[:200]}")
                body = r.json()
                n += len(body["items"])
                cursor = body.get("next_cursor")
                if not cursor:
                    break
            out[status] = n
    return out


async def metrics_counts(session: AsyncSession) -> dict[str, int]:
    """Children per status now (every child whose case opened, whenever referred)."""
    status = DIMENSIONS["status"].sql
    sql = (
        "WITH p AS (SELECT CAST(:as_of AS date) AS as_of) "
        f"SELECT {status} AS status, count(*) AS n FROM metrics.child c CROSS JOIN p WHERE c.referred GROUP BY 1"
    )
    rows = (await session.execute(text(sql), {"as_of": clock.london_date(clock.utcnow())})).all()
    counted = {r.status: int(r.n) for r in rows}
    return {s: counted.get(s, 0) for s in STATUSES}


def compare(ours: dict[str, int], theirs: dict[str, int]) -> dict[str, Any]:
    differences = {
        s: {"metrics": ours.get(s, 0), "cases": theirs.get(s, 0)}
        for s in STATUSES
        if ours.get(s, 0) != theirs.get(s, 0)
    }
    return {
        "consistent": not differences, "metrics": ours, "cases": theirs, "differences": differences,
        "metrics_total": sum(ours.values()), "cases_total": sum(theirs.values()),
    }  # fmt: skip
