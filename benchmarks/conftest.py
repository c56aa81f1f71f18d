"""Benchmark fixtures: its own embedded Postgres and NATS (or the env URLs), a migrated database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ictg_common.devinfra import Infra, ensure_database, scratch_infra

ROOT = Path(__file__).resolve().parents[1]
# The benchmarks mint development tokens (HS256), in process and in the processes they start.
os.environ.setdefault("ICTG_AUTH_DEVELOPMENT", "true")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with scratch_infra(ROOT / ".run" / f"bench-{os.getpid()}") as running:
        yield running


@pytest.fixture(scope="session")
def database_url(infra: Infra) -> str:
    from ictg_common.migrate import upgrade
    from ictg_metrics.app import MIGRATIONS

    base = infra.database_url.rsplit("/", 1)[0]
    url = f"{base}/ictg_bench_{os.getpid()}"
    ensure_database(url)
    upgrade(MIGRATIONS, url)
    return url
