"""A published release with something in every chart: children referred over fourteen months in three
regions, allocated and contacted, some missing, some with NRM decisions, some gone; published as release
2025-11 (as at 30 November 2025, so 2025-Q4, 2025 and 2025-26 are partial)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx

from tests.support.metrics_events import Child, at
from tests.support.metrics_http import feed, metrics_app
from tests.support.platform import auth

READER = auth("metrics:read")
ADMIN = auth("metrics:admin")
RELEASE = "2025-11"
PLACES = (
    {"local_authority_code": "E08000003", "region": "north_west"},
    {"local_authority_code": "E08000035", "region": "yorkshire_and_the_humber"},
    {"local_authority_code": "E10000016", "region": "south_east"},
)
MONTHS = [f"{y}-{m:02d}" for y, m in [(2024, 10), (2024, 11), (2024, 12)] + [(2025, m) for m in range(1, 12)]]


def cohort() -> list[Child]:
    children = []
    for i in range(168):
        month = MONTHS[i % len(MONTHS)]
        received = at(f"{month}-{1 + i % 27:02d}", hour=9 + i % 8)
        child = Child(received, attrs={**PLACES[i % 3], "gender": ("male", "female")[i % 2]})
        child.allocate(received + timedelta(hours=2 + i % 30))
        child.contact(received + timedelta(hours=5 + i % 40))
        if i % 4 == 0:
            child.missing(received + timedelta(days=3), received + timedelta(days=4 + i % 70))
        if i % 3 == 0:
            child.nrm(received + timedelta(days=20), "reasonable_grounds", ("positive", "negative")[i % 2])
        if i % 5 < 2 and month < "2025-09":
            child.exit(received + timedelta(days=60), reason=("work_completed", "turned_18")[i % 2])
        children.append(child)
    return children


@contextlib.asynccontextmanager
async def published_release(settings: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """A metrics service holding release 2025-11 of the cohort."""
    async with metrics_app(settings, release_check_seconds=0) as client:
        await feed(client, settings, *cohort())
        r = await client.post("/v1/admin/releases", params={"release": RELEASE}, headers=ADMIN)
        assert r.status_code == 201, r.text
        yield client


async def release_json(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The release and each of its tables, as the JSON API publishes them."""
    release = (await client.get(f"/v1/releases/{RELEASE}", headers=READER)).json()
    tables = {}
    for t in release["tables"]:
        r = await client.get(t["url"], headers=READER)
        assert r.status_code == 200, r.text
        tables[t["id"]] = r.json()
    return release, tables
