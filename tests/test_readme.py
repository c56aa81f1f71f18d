"""The README's examples work as written (issue 14): `make run` (deploy/run.py) is started as a new
user would, on this test run's Postgres and NATS and free ports, and each shell block marked
`<!-- readme-example: … -->` is run with bash from the repository root, as a developer would paste it.
Every token the examples use comes from the token service, with the development clients' ids and
secrets that `make run` registered and wrote to its env file (client credentials, as an integrator)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ictg_common.devinfra import Infra, free_port
from ictg_metrics.releases.catalogue import CATALOGUE
from tests.support.platform import ROOT, _admin, _with_db

MARKER = re.compile(r"<!-- readme-example: ([\w-]+) -->\n```sh\n(.*?)```", re.S)


def examples() -> dict[str, str]:
    return dict(MARKER.findall((ROOT / "README.md").read_text()))


@pytest.fixture(scope="module")
def platform(infra: Infra, template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`make run`'s program on a database of its own; yields the env file it writes (`. .run/env`)."""
    name = f"ictg_readme_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(infra, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
    env_file = tmp_path_factory.mktemp("readme") / "env"
    ports = {var: str(free_port()) for var in ("ICTG_INTAKE_PORT", "ICTG_CASES_PORT", "ICTG_METRICS_PORT",
                                              "ICTG_WEBHOOKS_PORT", "ICTG_IDENTITY_PORT")}  # fmt: skip
    env = {
        **os.environ, **ports, "ICTG_DATABASE_URL": _with_db(infra.database_url, name), "ICTG_NATS_URL": infra.nats_url,
        "ICTG_NATS_STREAM": f"README{ports['ICTG_INTAKE_PORT']}", "ICTG_SUBJECT_PREFIX": f"readme{ports['ICTG_INTAKE_PORT']}",
        "ICTG_RUN_ENV_FILE": str(env_file),
    }  # fmt: skip
    log = open(ROOT / ".run" / "readme-platform.log", "w")
    proc = subprocess.Popen([sys.executable, "deploy/run.py"], cwd=ROOT, env=env, stdout=log, stderr=log,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 90
    while not env_file.exists():
        assert proc.poll() is None, (ROOT / ".run" / "readme-platform.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "make run did not come up"
        time.sleep(0.2)
    try:
        yield env_file
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        asyncio.run(_admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(block: str, env_file: Path) -> str:
    """One README block, as written, except that `. .run/env` reads this run's env file."""
    script = block.replace(". .run/env", f". {env_file}")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=90, start_new_session=True)  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.mark.timeout(300)
def test_the_readme_examples_work_as_written(platform: Path) -> None:
    blocks = examples()
    assert set(blocks) == {"getting-a-token", "first-responder", "analyst", "council"}, sorted(blocks)
    for name, block in blocks.items():  # every token from the token service: none minted with the shared secret
        assert "ictg_common.auth" not in block and "$TOKEN" not in block, name
        assert "grant_type=client_credentials" in block, name
    out = run(blocks["getting-a-token"], platform)
    answer = json.loads(next(line for line in out.splitlines() if '"access_token"' in line))
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 900, answer
    assert answer["scope"] == "referrals:write webhooks:manage metrics:read", answer
    assert "'org_type': 'police'" in out and "'org_name': 'Greater Manchester Police'" in out, out  # its claims
    assert re.search(r"(?m)^metrics:read 900$", out), out  # a narrower scope on request
    assert '"error":"invalid_scope"' in out and '"status":400' in out, out  # never a scope the client lacks
    out = run(blocks["first-responder"], platform)
    assert '"code":"E08000003","name":"Manchester"' in out, out
    assert re.search(r"(?im)^idempotency-replayed: true", out), out
    assert re.search(r"(?m)^awaiting_allocation 20\d\d-", out), out  # the referrer sees its case open
    assert '"reference":"GMP/2026/000123"' in out
    assert '"items":[{"id"' in out  # the case of the referral (the staff client's token)
    assert '"disclosure":"dp"' in out and '"epsilon":0.5' in out, out  # the analyst's query, noised and charged
    assert re.search(r"(?m)^20\d\d-\d\d,c\r?$", out), out  # the published table, read with the police token
    out = run(blocks["analyst"], platform)  # last month's release, made by the block before
    assert re.search(r"(?m)^20\d\d-\d\d 20\d\d-\d\d-\d\d \{.*'timeliness_by_quarter': \['20\d\d-Q\d'\]", out), out
    assert f"{len(CATALOGUE)} tables: tables/referrals_by_month.csv" in out, out
    assert re.search(r"(?m)^referral_month\s+children$", out) and re.search(r"(?m)^\s*20\d\d-\d\d\s+NaN$", out), out
    assert f"['Cover', 'Contents', 'Notes', 'Table_1'] … {3 + len(CATALOGUE)} sheets" in out, out  # no revisions yet
    out = run(blocks["council"], platform)
    assert '"la_child_id":"MCR0001"' in out, out
    assert re.search(r"verified \S+ ictg\.case\.opened\.v1", out), out  # the receiver verified a delivery
    assert re.search(r"(?mi)^x-not-looked-after-episodes: 0", out), out  # the child filed as looked after
    assert re.search(r"(?m)^204$", out), out  # and the subscription deleted, not left retrying
