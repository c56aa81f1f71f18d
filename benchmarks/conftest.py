"""Benchmark fixtures: its own embedded Postgres and NATS (or the env URLs), a migrated database."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ictg_common.devinfra import Infra, ensure_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    root = ROOT / ".run" / f"bench-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    running = Infra(
        root, database_url=os.environ.get("ICTG_DATABASE_URL"), nats_url=os.environ.get("ICTG_NATS_URL"), fast=True
    ).start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(infra: Infra) -> str:
    from ictg_common.migrate import upgrade
    from ictg_metrics.app import MIGRATIONS

    base = infra.database_url.rsplit("/", 1)[0]
    url = f"{base}/ictg_bench_{os.getpid()}"
    ensure_database(url)
    upgrade(MIGRATIONS, url)
    return url
