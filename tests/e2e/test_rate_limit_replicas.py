"""Two intake replicas as real uvicorn processes on one database: one principal's rate limit is one
bucket between them (`ictg_common.ratelimit`), not one per process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ictg_common.devinfra import free_port, port_open
from tests.support.platform import ROOT, auth

pytestmark = pytest.mark.e2e


@pytest.fixture
def replicas(shared_settings: dict[str, Any]) -> Iterator[list[str]]:
    """Two intake processes limiting each principal to 3 requests a minute; their base URLs."""
    env = {
        **os.environ,
        "ICTG_DATABASE_URL": shared_settings["database_url"],
        "ICTG_NATS_URL": shared_settings["nats_url"],
        "ICTG_NATS_STREAM": shared_settings["nats_stream"],
        "ICTG_SUBJECT_PREFIX": shared_settings["subject_prefix"],
        "ICTG_AUTH_SECRET": shared_settings["auth_secret"],
        "ICTG_RATE_LIMIT_PER_MINUTE": "3",
        "ICTG_RATE_LIMIT_STORE_TIMEOUT_SECONDS": "10",  # a fresh process's first connection may be slow
    }
    ports = [free_port(), free_port()]
    command = [sys.executable, "-m", "uvicorn", "ictg_intake.app:create_app", "--factory", "--no-access-log"]
    procs = [
        subprocess.Popen(
            [*command, "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(port_open(p) for p in ports):
            assert all(p.poll() is None for p in procs), "an intake process exited at start"
            assert time.monotonic() < deadline, "intake did not start"
            time.sleep(0.1)
        yield [f"http://127.0.0.1:{p}" for p in ports]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)


async def test_two_intake_processes_admit_one_principals_limit_between_them(replicas: list[str]) -> None:
    script = auth("referrals:read", sub="script")
    async with httpx.AsyncClient(timeout=10) as http:
        answers = [await http.get(f"{replicas[i % 2]}/v1/referrals", headers=script) for i in range(6)]
        other = await http.get(f"{replicas[1]}/v1/referrals", headers=auth("referrals:read", sub="someone-else"))
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429, 429]  # per process: all six were 200
    refused = answers[3]
    assert refused.headers["content-type"] == "application/problem+json" and refused.json()["status"] == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 21
    assert other.status_code == 200
