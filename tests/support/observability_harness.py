"""The four services in process, and scraping their `GET /metrics` back with prometheus-client's own parser."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ictg_common.settings import DEV_SCRAPE_TOKEN
from ictg_metrics.app import create_app as create_metrics
from ictg_metrics.settings import MetricsSettings
from ictg_webhooks.app import create_app as create_webhooks
from ictg_webhooks.settings import WebhooksSettings
from tests.support.platform import serve, service_apps


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample as (name, labels, value), and the family names."""

    samples: list[tuple[str, dict[str, str], float]]
    types: dict[str, str]  # family name -> counter, gauge, histogram…

    @property
    def families(self) -> set[str]:
        return set(self.types)

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 if none)."""
        return sum(v for n, ls, v in self.samples if n == name and labels.items() <= ls.items())

    def one(self, name: str, **labels: str) -> float:
        """The one sample of `name` with exactly these labels."""
        found = [v for n, ls, v in self.samples if n == name and ls == labels]
        assert len(found) == 1, f"{name}{labels}: {found} in {sorted({n for n, _, _ in self.samples})}"
        return found[0]

    @property
    def names(self) -> set[str]:
        return {n for n, _, _ in self.samples}


SCRAPER = {"Authorization": f"Bearer {DEV_SCRAPE_TOKEN}"}


async def scrape(client: httpx.AsyncClient) -> Scrape:
    r = await client.get("/metrics", headers=SCRAPER)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version="), r.headers["content-type"]
    families = list(text_string_to_metric_families(r.text))
    return Scrape(
        samples=[(s.name, dict(s.labels), s.value) for f in families for s in f.samples],
        types={f.name: f.type for f in families},
    )


@dataclass
class Platform:
    intake: httpx.AsyncClient
    cases: httpx.AsyncClient
    metrics: httpx.AsyncClient
    hooks: httpx.AsyncClient

    def clients(self) -> dict[str, httpx.AsyncClient]:
        return {"intake": self.intake, "cases": self.cases, "metrics": self.metrics, "webhooks": self.hooks}


@contextlib.asynccontextmanager
async def platform(shared_settings: dict[str, Any]) -> AsyncIterator[Platform]:
    """The four services in process on one database and one stream; every scrape reads afresh."""
    shared_settings = {**shared_settings, "telemetry_reading_seconds": 0}
    intake_app, cases_app, _ = service_apps(shared_settings, sla_check_seconds=0)
    async with (
        serve(intake_app) as intake,
        serve(cases_app) as cases,
        serve(create_metrics(MetricsSettings(**shared_settings))) as metrics,
        serve(create_webhooks(WebhooksSettings(**shared_settings, worker_poll_seconds=0.05))) as hooks,
    ):
        yield Platform(intake=intake, cases=cases, metrics=metrics, hooks=hooks)


def exposed_names(s: Scrape) -> set[str]:
    """Every series name a family of the scrape can have, whether or not it has samples yet."""
    out = set()
    for name, kind in s.types.items():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(kind, [""])
        out |= {name + suffix for suffix in suffixes}
    return out
