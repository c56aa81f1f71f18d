"""Property-based fuzzing of the intake API from its own OpenAPI document: no 5xx, and every
response matches the documented schema, status codes and content types."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ictg_common.devinfra import Infra, free_port, port_open
from ictg_intake.app import create_app

from conftest import ROOT, SECRET, _admin, _with_db, auth

schema = schemathesis.openapi.from_dict(create_app().openapi())


@pytest.fixture(scope="module")
def intake_url(infra: Infra, template_db: str) -> Iterator[str]:
    """One real intake process on a database of its own, for the whole fuzzing run."""
    name = f"ictg_fuzz_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(infra, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
    port = free_port()
    env = {
        **os.environ, "ICTG_DATABASE_URL": _with_db(infra.database_url, name), "ICTG_NATS_URL": infra.nats_url,
        "ICTG_NATS_STREAM": f"FUZZ{port}", "ICTG_SUBJECT_PREFIX": f"fuzz{port}", "ICTG_AUTH_SECRET": SECRET,
    }  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ictg_intake.app:create_app", "--factory", "--port", str(port), "--no-access-log"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(ROOT / ".run" / "fuzz-intake.log", "w"),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not port_open(port):
        assert proc.poll() is None and time.monotonic() < deadline, "intake did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(20)
    asyncio.run(_admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


HEADERS = auth("referrals:write", "referrals:read", "referrals:import")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_intake_api_never_fails_and_matches_its_schema(case: Any, intake_url: str) -> None:
    # A schema-valid body may still break a business rule (a future date, an adult without
    # age_disputed, an Idempotency-Key reused): refusing it with 4xx is correct, so that one check is off.
    case.call_and_validate(base_url=intake_url, headers=HEADERS, excluded_checks=[positive_data_acceptance])
