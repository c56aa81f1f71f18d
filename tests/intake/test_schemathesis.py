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
from tests.support.platform import ROOT, SECRET, _admin, _with_db, auth

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
    deadline = time.monotonic() + 60
    while not port_open(port):
        assert proc.poll() is None and time.monotonic() < deadline, "intake did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(20)
    asyncio.run(_admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


HEADERS = auth("referrals:write", "referrals:read", "referrals:import")


@schema.auth()
class _Token:
    """The token goes through Schemathesis' own auth hook, not fixed headers: a negative case that drops
    the required Authorization header then really goes without it (401), instead of having it put back
    and being blamed for a 200."""

    def get(self, case: Any, context: Any) -> str:
        return HEADERS["Authorization"]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


def _send_unknown_keys(case: Any) -> None:
    """A negative case may add an unknown query key whose value is null or an empty list; the HTTP
    client drops such a key, so the request the API receives is valid after all. Send the key with an
    empty value, which is what the case means: a parameter the endpoint does not take."""
    if not isinstance(case.query, dict):
        return
    declared = {p.name for p in case.operation.query}
    case.query = {k: ("" if k not in declared and v in (None, []) else v) for k, v in case.query.items()}


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_intake_api_never_fails_and_matches_its_schema(case: Any, intake_url: str) -> None:
    # A schema-valid body may still break a business rule (a future date, an adult without
    # age_disputed, an Idempotency-Key reused): refusing it with 4xx is correct, so that one check is off.
    _send_unknown_keys(case)
    case.call_and_validate(base_url=intake_url, excluded_checks=[positive_data_acceptance])
