"""`GET /dashboard` (scope metrics:read, like the releases it shows): a release's headline charts as an
HTML page with no script. Charts are drawn once per release (a release never changes)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from ictg_common.auth import Actor, require
from ictg_common.errors import NotFound
from ictg_common.service import SessionDep

from ..releases import store
from ..releases.kept import Kept
from ..releases.periods import all_partial
from . import charts as chart_data
from .page import page
from .svg import render

router = APIRouter(tags=["releases"])
Reader = Annotated[Actor, require("metrics:read")]
# Nothing but this page's own inline styles and inline images: no script, no request to any host.
POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
          "frame-ancestors 'none'")  # fmt: skip
_DRAWN: Kept[list[tuple[chart_data.ChartData, str]]] = Kept()


def _draw(found: list[chart_data.ChartData]) -> list[tuple[chart_data.ChartData, str]]:
    return [(c, render(c)) for c in found]


@router.get(
    "/dashboard",
    summary="Dashboard of a release",
    description="A release's headline series (referrals and caseload by month, referrals by region, time to "
    "allocation and first contact, missing episodes, NRM decisions, exits and length of support), each chart "
    "beside its data table and a CSV of its values. Only published values; plain HTML (charts as SVG images), "
    "nothing fetched from another host.",
    response_class=HTMLResponse,
)
async def dashboard(
    session: SessionDep, actor: Reader,
    release: Annotated[str, Query(description="A release, `YYYY-MM`, or `latest`.", max_length=10)] = "latest",
) -> HTMLResponse:  # fmt: skip
    r = await store.release(session, release)
    if r is None:
        raise NotFound(f"No release {release[:20]!r}: GET /v1/releases lists them.")
    tables = await store.tables_of(session, r.release)
    drawn = _DRAWN.get(Kept.key(r))
    if drawn is None:
        drawn = await asyncio.to_thread(_draw, chart_data.charts(tables, r.as_at))
        _DRAWN.put(Kept.key(r), drawn)
    partial = all_partial(tables, as_at=r.as_at)
    names = [x.release for x in await store.releases(session)]
    html = page(release=r, charts=drawn, releases=names, partial=partial)
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY, "ICTG-Release": r.release})
