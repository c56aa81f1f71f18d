"""End to end with real processes: the five services as uvicorn processes, real Postgres and NATS.

The services trust the token service's keys (fetched from its JWKS over the network), and the case API
and metrics get their own tokens there (client credentials), as deployed."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from ictg_common import clock
from ictg_common.db import plain_url
from ictg_common.devinfra import free_port, port_open
from tests.support.factories import referral_body
from tests.support.platform import ROOT, auth, eventually
from tests.support.receivers import receiving

pytestmark = pytest.mark.e2e


class Processes:
    """The services (stack.SERVICES) as real uvicorn processes on free ports, started and stopped at will."""

    def __init__(self, settings: dict[str, Any]) -> None:
        from stack import SERVICES

        self.factories = {name: factory for name, (factory, _, _) in SERVICES.items()}
        self.ports = {name: free_port() for name in SERVICES}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        issuer = self.urls["identity"]
        clients = _registered(settings["database_url"])
        self.env = {
            **os.environ,
            "ICTG_DATABASE_URL": settings["database_url"],
            "ICTG_NATS_URL": settings["nats_url"],
            "ICTG_NATS_STREAM": settings["nats_stream"],
            "ICTG_SUBJECT_PREFIX": settings["subject_prefix"],
            "ICTG_AUTH_SECRET": settings["auth_secret"],
            "ICTG_CASES_INTAKE_URL": self.urls["referral-intake"],
            "ICTG_METRICS_CASES_URL": self.urls["case-api"],
            "ICTG_AUTH_ISSUERS": json.dumps([{"issuer": issuer}]),
            "ICTG_AUTH_TOKEN_URL": f"{issuer}/oauth2/token",
            "ICTG_IDENTITY_ISSUER": issuer,
            "ICTG_CASES_CLIENT_ID": clients["CASES_CLIENT"][0],
            "ICTG_CASES_CLIENT_SECRET": clients["CASES_CLIENT"][1],
            "ICTG_METRICS_CLIENT_ID": clients["METRICS_CLIENT"][0],
            "ICTG_METRICS_CLIENT_SECRET": clients["METRICS_CLIENT"][1],
        }
        self.clients = clients
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, *names: str) -> None:
        for name in names:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", self.factories[name], "--factory", "--port", str(self.ports[name]),
                 "--no-access-log"],
                env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not all(port_open(self.ports[n]) for n in names):
            assert all(self.procs[n].poll() is None for n in names), "a service exited at start"
            assert time.monotonic() < deadline, "services did not start"
            time.sleep(0.1)

    def stop(self, *names: str) -> None:
        for name in names or list(self.procs):
            proc = self.procs.pop(name)
            proc.terminate()
            proc.wait(20)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown, nothing flushed, no goodbye."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(20)


def _registered(database_url: str) -> dict[str, tuple[str, str]]:
    """The development clients, registered as `make run` does (from a thread: a test's loop may be running)."""
    from ictg_identity.admin import register_dev_clients

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, register_dev_clients(database_url)).result()


@pytest.fixture
def processes(shared_settings: dict[str, Any]) -> Iterator[Processes]:
    running = Processes(shared_settings)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def services(processes: Processes) -> dict[str, str]:
    processes.start(*processes.factories)
    return processes.urls


async def test_one_referral_through_three_processes_to_the_metrics_count(
    services: dict[str, str], processes: Processes
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for url in services.values():
            await eventually(lambda url=url: _ready(http, url), timeout=30)
        # The police force's system gets its token from the token service, as an integrator's does.
        issued = await http.post(f"{services['identity']}/oauth2/token", data={"grant_type": "client_credentials"},
                                 auth=processes.clients["POLICE"])  # fmt: skip
        assert issued.status_code == 200, issued.text
        police = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        r = await http.post(f"{services['referral-intake']}/v1/referrals", json=referral_body(), headers=police)
        assert r.status_code == 201, r.text
        referral_id = r.json()["id"]

        async def case() -> Any:
            got = await http.get(
                f"{services['case-api']}/v1/cases", params={"referral_id": referral_id}, headers=auth("cases:read")
            )
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


async def test_a_referral_made_while_the_case_api_is_down_becomes_a_case_when_it_returns(processes: Processes) -> None:
    processes.start("identity", "referral-intake", "case-api")  # the case API gets its tokens there
    urls = processes.urls
    async with httpx.AsyncClient(timeout=10) as http:
        await eventually(lambda: _ready(http, urls["case-api"]), timeout=30)  # its durable consumer exists
        processes.stop("case-api")
        r = await http.post(
            f"{urls['referral-intake']}/v1/referrals", json=referral_body(), headers=auth("referrals:write")
        )
        assert r.status_code == 201, r.text
        processes.start("case-api")

        async def case() -> Any:
            got = await http.get(
                f"{urls['case-api']}/v1/cases", params={"referral_id": r.json()["id"]}, headers=auth("cases:read")
            )
            return got.json()["items"]

        [opened] = await eventually(case, timeout=30)
        assert opened["status"] == "awaiting_allocation"


async def test_a_case_write_whose_answer_is_lost_to_a_crash_is_applied_once_when_retried(
    processes: Processes, shared_settings: dict[str, Any]
) -> None:
    processes.start("identity", "referral-intake", "case-api")
    urls, port = processes.urls, processes.ports["case-api"]
    guardian = auth("cases:write", "cases:read", sub="guardian-e2e")
    keyed = {**guardian, "Idempotency-Key": "tablet-42-contact-1"}
    async with httpx.AsyncClient(timeout=10) as http:
        await eventually(lambda: _ready(http, urls["case-api"]), timeout=30)
        r = await http.post(
            f"{urls['referral-intake']}/v1/referrals", json=referral_body(), headers=auth("referrals:write")
        )
        assert r.status_code == 201, r.text

        async def case() -> Any:
            got = await http.get(
                f"{urls['case-api']}/v1/cases", params={"referral_id": r.json()["id"]}, headers=guardian
            )
            return got.json()["items"]

        [opened] = await eventually(case, timeout=30)
        path = f"/v1/cases/{opened['id']}/contacts"
        body = {"occurred_at": clock.utcnow().isoformat(), "outcome": "made", "method": "face_to_face",
                "party": "child", "topics": ["safety"]}  # fmt: skip

        # The guardian's app sends the contact and never reads the answer: the case API dies once
        # the contact has committed, before (or while) answering.
        payload = json.dumps(body).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in keyed.items())
        db = await asyncpg.connect(plain_url(shared_settings["database_url"]))
        try:

            async def contacts() -> list[Any]:
                return list(await db.fetch("SELECT id FROM cases.contact WHERE case_id = $1", UUID(opened["id"])))

            with socket.create_connection(("127.0.0.1", port)) as lost:
                lost.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n{head}\r\n".encode()
                    + payload
                )
                [stored] = await eventually(contacts, timeout=20)
                processes.kill("case-api")
            processes.start("case-api")
            await eventually(lambda: _ready(http, urls["case-api"]), timeout=30)

            retry = await http.post(f"{urls['case-api']}{path}", json=body, headers=keyed)
            assert retry.status_code == 201, retry.text
            assert retry.json()["id"] == str(stored["id"]) and retry.headers["idempotency-replayed"] == "true"
            assert retry.headers["location"] == f"{path}/{stored['id']}" and retry.headers["etag"] == '"2"'
            assert len(await contacts()) == 1
        finally:
            await db.close()


async def test_webhooks_killed_mid_delivery_deliver_every_event_after_restart(processes: Processes) -> None:
    """SIGKILL the webhooks process while it sends to a slow receiver: once restarted, every event
    arrives at least once, none the receiver did not expect, a repeat with the same webhook-id."""
    processes.env.update({
        "ICTG_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true", "ICTG_WEBHOOKS_TIMEOUT_SECONDS": "3",
        "ICTG_WEBHOOKS_LEASE_MARGIN_SECONDS": "2", "ICTG_WEBHOOKS_RETRY_SCHEDULE_SECONDS": "[0.5, 1, 1, 2, 2, 2]",
    })  # fmt: skip
    processes.start(*processes.factories)
    urls = processes.urls
    code = "E06000009"  # Blackpool
    hooks = auth("webhooks:manage", org_type="local_authority", org_name="Blackpool Council", regions=[],
                 la_codes=[code], sub="blackpool-system")  # fmt: skip
    async with receiving() as receiver, httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{urls['webhooks']}/v1/webhooks/subscriptions", headers=hooks,
                            json={"url": f"{receiver.base}/slow/blackpool"})  # fmt: skip
        assert r.status_code == 201, r.text
        receiver.secrets["blackpool"] = r.json()["secret"]
        referrals = set()
        for _ in range(10):
            r = await http.post(f"{urls['referral-intake']}/v1/referrals", headers=auth("referrals:write"),
                                json=referral_body(local_authority_code=code))  # fmt: skip
            assert r.status_code == 201, r.text
            referrals.add(r.json()["id"])

        async def some() -> bool:
            return len(receiver.deliveries) >= 3

        await eventually(some, timeout=60)
        processes.kill("webhooks")
        processes.start("webhooks")

        def about(event: dict[str, Any]) -> str:
            return event["subject"] if event["type"] == "ictg.referral.received.v1" else event["data"]["referral_id"]

        async def all_arrived() -> bool:
            ids = {d.webhook_id for d in receiver.deliveries}
            return len(ids) >= 2 * len(referrals)  # referral.received and case.opened of each

        await eventually(all_arrived, timeout=90)
        assert all(d.verified_by == ["blackpool"] for d in receiver.deliveries)
        assert all(d.webhook_id == d.event["id"] and about(d.event) in referrals for d in receiver.deliveries)
        by_id: dict[str, list[dict[str, Any]]] = {}
        for d in receiver.deliveries:
            by_id.setdefault(d.webhook_id, []).append(d.event)
        assert len(by_id) == 2 * len(referrals)
        assert sorted(e[0]["type"] for e in by_id.values()) == sorted(
            ["ictg.case.opened.v1", "ictg.referral.received.v1"] * len(referrals)
        )
        assert all(all(e == events[0] for e in events) for events in by_id.values())  # repeats are the same event
