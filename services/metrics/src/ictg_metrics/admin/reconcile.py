"""Reconciliation: metrics' children by status against the case API's own counts, once the stream is drained."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock, codes
from ictg_common.peer import PeerClient, PeerUnavailable, ServiceAuth

from ..dimensions import DIMENSIONS
from ..settings import MetricsSettings

STATUSES = codes.CASE_STATUSES


class CasesUnavailable(PeerUnavailable):
    """The case API did not answer as expected."""


def cases_client(settings: MetricsSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> PeerClient:
    """The case API, with metrics' service token (ICTG_METRICS_CASES_TOKEN, or minted in development)."""
    from ictg_common.reference import REGION_SLUGS

    auth = ServiceAuth(
        token=settings.cases_token, secret=settings.auth_secret, name="metrics", scopes=["cases:read"],
        client=settings.client_credentials,
        audience=settings.auth_audience, regions=list(REGION_SLUGS),
    )  # fmt: skip
    return PeerClient(
        name="case API", base_url=settings.cases_url, auth=auth, unavailable=CasesUnavailable, transport=transport,
        timeout=30.0,
    )  # fmt: skip


async def case_counts(cases: PeerClient) -> dict[str, int]:
    """Cases per status, as the case API counts them (`GET /v1/admin/case-counts`: one audit row there)."""
    body = await cases.get_json("/v1/admin/case-counts")
    return {s: int(body.get(s, 0)) for s in STATUSES}


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
