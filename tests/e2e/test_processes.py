"""End to end with real processes: three uvicorn services, real Postgres and NATS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ictg_common.devinfra import free_port, port_open

from conftest import ROOT, auth, eventually
from factories import referral_body

pytestmark = pytest.mark.e2e


@pytest.fixture
def services(shared_settings: dict[str, Any]) -> Iterator[dict[str, str]]:
    from stack import SERVICES

    ports = {name: free_port() for name in SERVICES}
    env = {
        **os.environ,
        "ICTG_DATABASE_URL": shared_settings["database_url"],
        "ICTG_NATS_URL": shared_settings["nats_url"],
        "ICTG_NATS_STREAM": shared_settings["nats_stream"],
        "ICTG_SUBJECT_PREFIX": shared_settings["subject_prefix"],
        "ICTG_AUTH_SECRET": shared_settings["auth_secret"],
        "ICTG_CASES_INTAKE_URL": f"http://127.0.0.1:{ports['referral-intake']}",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", factory, "--factory", "--port", str(ports[name]), "--no-access-log"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for name, (factory, _, _) in SERVICES.items()
    ]
    try:
        import time

        deadline = time.monotonic() + 60
        while not all(port_open(p) for p in ports.values()):
            assert all(p.poll() is None for p in procs), "a service exited at start"
            assert time.monotonic() < deadline, "services did not start"
            time.sleep(0.1)
        yield {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)


async def test_one_referral_through_three_processes_to_the_metrics_count(services: dict[str, str]) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for url in services.values():
            await eventually(lambda url=url: _ready(http, url), timeout=30)
        r = await http.post(f"{services['referral-intake']}/v1/referrals", json=referral_body(), headers=auth("referrals:write"))
        assert r.status_code == 201, r.text
        referral_id = r.json()["id"]

        async def case() -> Any:
            got = await http.get(f"{services['case-api']}/v1/cases", params={"referral_id": referral_id}, headers=auth("cases:read"))
            return got.json()["items"]

        [opened] = await eventually(case, timeout=20)
        assert opened["personal"]["child"]["given_name"] == "An"

        async def counted() -> Any:
            got = await http.get(
                f"{services['metrics']}/v1/metrics/children",
                params={"group_by": "gender,nationality_group", "disclosure": "none"},
                headers=auth("metrics:read", "metrics:read:unsuppressed"),
            )
            body = got.json()
            return body if body["total"] == 1 else None

        body = await eventually(counted, timeout=20)
        assert body["rows"] == [{"gender": "male", "nationality_group": "non_eea", "children": 1}]


async def _ready(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False
