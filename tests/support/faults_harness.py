"""The platform as real processes on servers of its own, a load of referrals, and faults to inject.

Each fault run gets its own embedded Postgres and NATS (under `.run/`, fsync off), because the
faults kill them: they are never the test session's shared servers, nor ones named by
ICTG_DATABASE_URL / ICTG_NATS_URL. Services run as uvicorn processes, one or more replicas each,
each service as its own NATS user; any of them, Postgres or NATS can be killed with SIGKILL and
started again mid-load. NATS may be a cluster (`nats_cluster=3`: three servers, the stream on all
three, the services given every server), one server of which is killed at a time. Postgres may have
a synchronous streaming standby (`pg_standby=True`: the services given both in one multi-host URL with
`target_session_attrs=read-write`): `fail_over_postgres` kills the primary and promotes the standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats

from ictg_common.db import plain_url
from ictg_common.devinfra import (
    STANDBY_NAME,
    EmbeddedNats,
    EmbeddedNatsCluster,
    EmbeddedPostgres,
    EmbeddedPostgresStandby,
    ensure_database,
    free_port,
    multi_host_url,
    port_open,
)
from tests.support.factories import referral_body
from tests.support.platform import ROOT, SECRET, auth

SERVICES = ("referral-intake", "case-api", "metrics")


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def crash_postgres(server: EmbeddedPostgres) -> None:
    """SIGKILL a postmaster and its processes at once (a crash), and wait until it is gone: reaped, its
    port closed (a zombie postmaster still holds its lock file, and Postgres would not start again)."""
    pid = server.pid
    assert pid is not None, "Postgres is not running"
    for p in [pid, *children(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.alive or port_open(server.port):
        assert time.monotonic() < deadline, "Postgres did not die"
        time.sleep(0.05)


class Platform:
    """Postgres, NATS and `replicas` processes of each service, each killable and restartable."""

    def __init__(
        self, root: Path, *, replicas: int = 1, extra_env: dict[str, str] | None = None, nats_cluster: int = 1,
        pg_standby: bool = False, services: tuple[str, ...] = SERVICES,
    ) -> None:  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
        self.root = root
        self.pg = EmbeddedPostgres(root / "pg", fast=True, synchronous_standby=STANDBY_NAME if pg_standby else None)
        self.standby = EmbeddedPostgresStandby(root / "pg-standby", self.pg) if pg_standby else None
        self.nats: EmbeddedNats | EmbeddedNatsCluster = (
            EmbeddedNatsCluster(root / "nats", size=nats_cluster, tester=True)
            if nats_cluster > 1
            else EmbeddedNats(root / "nats")
        )
        self.nats_replicas = min(nats_cluster, 3)
        self.replicas = replicas
        self.extra_env = extra_env or {}
        self.services = services
        self.ports = {(name, i): free_port() for name in services for i in range(replicas)}
        self.procs: dict[tuple[str, int], subprocess.Popen[bytes]] = {}
        self.database_url = ""
        self.logs = root / "logs"

    def url(self, name: str, replica: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[(name, replica)]}"

    def urls(self, name: str) -> list[str]:
        return [self.url(name, i) for i in range(self.replicas)]

    # --- servers ------------------------------------------------------------------------------

    def start_servers(self) -> None:
        from stack import migrate_all

        self.database_url = self.pg.start()
        if self.standby is not None:
            self.standby.start()
            self.database_url = multi_host_url(self.pg, self.standby)
        ensure_database(self.database_url)
        self.nats.start()
        migrate_all(self.database_url)

    def kill_postgres(self) -> None:
        """SIGKILL the postmaster and every backend at once (a crash, not a shutdown)."""
        crash_postgres(self.pg)

    def start_postgres(self) -> None:
        self.pg.start()

    def fail_over_postgres(self, down: float = 0.0) -> None:
        """SIGKILL the primary, leave it dead for `down` seconds, then promote the standby (the old
        primary is never started again: it would wait forever for a standby at each commit)."""
        assert self.standby is not None, "Platform(pg_standby=True)"
        self.kill_postgres()
        time.sleep(down)
        self.standby.promote()

    def kill_nats(self, node: int | None = None) -> None:
        """SIGKILL NATS, or server `node` of its cluster."""
        if isinstance(self.nats, EmbeddedNatsCluster):
            assert node is not None, "which server of the cluster"
            self.nats.nodes[node].kill()
        else:
            self.nats.kill()

    def start_nats(self, node: int | None = None) -> None:
        if isinstance(self.nats, EmbeddedNatsCluster):
            assert node is not None, "which server of the cluster"
            self.nats.nodes[node].start()
        else:
            self.nats.start()

    async def stream_leader(self, stream: str = "ICTG") -> int:
        """Which server of the cluster leads `stream` now (it holds the writes: the hardest to lose)."""
        assert isinstance(self.nats, EmbeddedNatsCluster)
        nc = await nats.connect(self.nats.as_tester().split(","), connect_timeout=2, max_reconnect_attempts=2)
        try:
            deadline = time.monotonic() + 60
            while True:  # mid-load or just after a kill the stream may have no leader for a moment
                with contextlib.suppress(nats.errors.Error):
                    info = await nc.jetstream(timeout=5).stream_info(stream)
                    if info.cluster is not None and info.cluster.leader is not None:
                        break
                assert time.monotonic() < deadline, f"{stream} has had no leader for 60 s"
                await asyncio.sleep(0.5)
        finally:
            await nc.close()
        assert info.config.num_replicas == self.nats_replicas, info
        return [f"node-{i}" for i in range(len(self.nats.nodes))].index(str(info.cluster.leader))

    # --- services -----------------------------------------------------------------------------

    def env(self, replica: int) -> dict[str, str]:
        return {
            **os.environ,
            "ICTG_DATABASE_URL": self.database_url,
            "ICTG_NATS_URL": self.nats.url(),
            "ICTG_NATS_REPLICAS": str(self.nats_replicas),
            "ICTG_AUTH_SECRET": SECRET,
            "ICTG_RATE_LIMIT_PER_MINUTE": "0",
            "ICTG_RELAY_POLL_SECONDS": "0.5",
            "ICTG_CASES_INTAKE_URL": self.url("referral-intake", replica),
            "ICTG_METRICS_CASES_URL": self.url("case-api", replica),
            "ICTG_LOG_LEVEL": "WARNING",
            # A killed process keeps the lines it wrote (stdout to a file is block-buffered otherwise): the
            # traceback of a 500 just before a kill must be there to read.
            "PYTHONUNBUFFERED": "1",
            "ICTG_CASES_SLA_CHECK_SECONDS": "1",
            **self.extra_env,
        }

    def start(self, name: str, replica: int = 0) -> None:
        from stack import NATS_USERS
        from stack import SERVICES as FACTORIES

        self.logs.mkdir(parents=True, exist_ok=True)
        port = self.ports[(name, replica)]
        log = open(self.logs / f"{name}-{replica}.log", "ab")
        self.procs[(name, replica)] = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", FACTORIES[name][0], "--factory", "--port", str(port), "--no-access-log"],
            env={**self.env(replica), **self.nats.credentials(NATS_USERS[name]).env(NATS_USERS[name])},
            cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip
        log.close()

    def start_all(self) -> None:
        for name in self.services:
            for i in range(self.replicas):
                self.start(name, i)

    def kill(self, name: str, replica: int = 0) -> None:
        proc = self.procs.pop((name, replica))
        proc.kill()
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def shutdown(self) -> None:
        self.stop_all()
        self.nats.stop()
        if self.pg.alive:
            self.pg.stop()
        else:  # orphaned backends of a killed postmaster, if any
            pass
        if self.standby is not None:
            self.standby.stop()

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            for (name, i), port in self.ports.items():
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                            break
                    proc = self.procs.get((name, i))
                    assert proc is None or proc.poll() is None, f"{name}-{i} exited: {self._tail(name, i)}"
                    assert time.monotonic() < deadline, f"{name}-{i} not ready: {self._tail(name, i)}"
                    await asyncio.sleep(0.1)

    def _tail(self, name: str, replica: int) -> str:
        path = self.logs / f"{name}-{replica}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    # --- what the database holds ------------------------------------------------------------------

    async def query(self, sql: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(plain_url(self.database_url), timeout=5)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()


@dataclass
class Load:
    """`clients` first responders posting referrals until `stop` is set, each with an
    Idempotency-Key kept across its own retries (connection refused, 5xx, 409 in flight) and
    spread over the intake replicas, as a load balancer would."""

    urls: list[str]
    clients: int = 4
    pause: float = 0.1
    answered: list[str] = field(default_factory=list)  # referral ids answered 201
    attempts: int = 0
    failures: int = 0
    unexpected: list[str] = field(default_factory=list)  # answers no fault excuses (4xx, 500)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, *, give_up_after: float = 120) -> None:
        headers = auth("referrals:write")
        async with httpx.AsyncClient(timeout=10) as http:
            await asyncio.gather(*(self._client(http, n, headers, give_up_after) for n in range(self.clients)))

    async def _client(self, http: httpx.AsyncClient, n: int, headers: dict[str, str], give_up_after: float) -> None:
        sent = 0
        while not self.stop.is_set():
            body = referral_body(child__given_name=f"Child{n}x{sent}", child__family_name=uuid.uuid4().hex[:12])
            key = str(uuid.uuid4())
            deadline = time.monotonic() + give_up_after
            tries = 0
            while time.monotonic() < deadline:
                url = self.urls[(n + sent + tries) % len(self.urls)]
                tries += 1
                self.attempts += 1
                try:
                    r = await http.post(f"{url}/v1/referrals", json=body, headers={**headers, "Idempotency-Key": key})
                except httpx.HTTPError:
                    r = None
                if r is not None and r.status_code == 201:
                    self.answered.append(r.json()["id"])
                    break
                if r is not None and r.status_code not in (409, 502, 503):
                    self.unexpected.append(f"{r.status_code}: {r.text[:300]}")
                self.failures += 1
                await asyncio.sleep(0.2)
            sent += 1
            await asyncio.sleep(self.pause)


async def converged(platform: Platform, answered: list[str], *, timeout: float) -> dict[str, Any]:
    """Wait until every referral intake holds has exactly one case and one counted child; return
    what was found at the end (for the assertions)."""
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, Any] = {}
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            state = await snapshot(platform)
            if state["referrals"] == state["cases"] == state["children"] and not state["unpublished"]:
                return state
        if time.monotonic() > deadline:
            raise AssertionError(f"not converged within {timeout}s: {_summary(state)}")
        await asyncio.sleep(0.5)


async def snapshot(platform: Platform) -> dict[str, Any]:
    referrals = {str(r["id"]) for r in await platform.query("SELECT id FROM intake.referral")}
    case_rows = await platform.query('SELECT referral_id FROM cases."case"')
    children = {str(r["child_id"]) for r in await platform.query("SELECT child_id FROM metrics.child WHERE referred")}
    unpublished = await platform.query(
        "SELECT (SELECT count(*) FROM intake.outbox WHERE published_at IS NULL)"
        " + (SELECT count(*) FROM cases.outbox WHERE published_at IS NULL) AS n"
    )
    return {
        "referral_ids": referrals,
        "case_referral_ids": [str(r["referral_id"]) for r in case_rows],
        "child_ids": children,
        "referrals": referrals,
        "cases": {str(r["referral_id"]) for r in case_rows},
        "children": children,
        "unpublished": unpublished[0]["n"],
        "dead_letters": await platform.query(
            "SELECT consumer, error FROM cases.dead_letter UNION ALL SELECT consumer, error FROM metrics.dead_letter"
        ),
    }


def _summary(state: dict[str, Any]) -> str:
    if not state:
        return "database unreachable"
    return (
        f"{len(state['referrals'])} referrals, {len(state['cases'])} cases, {len(state['children'])} children, "
        f"{state['unpublished']} unpublished events, {len(state['dead_letters'])} dead letters"
    )


def assert_nothing_lost(state: dict[str, Any], answered: list[str]) -> None:
    """Every 201 is a referral, every referral exactly one case and one counted child; nothing parked."""
    assert answered, "the load made no referral"
    assert len(set(answered)) == len(answered), "one referral answered twice as new"
    assert set(answered) <= state["referral_ids"], "a referral answered 201 is missing from intake"
    assert sorted(state["case_referral_ids"]) == sorted(state["referral_ids"]), "cases differ from referrals"
    assert state["child_ids"] == state["referral_ids"], "metrics' children differ from referrals"
    assert state["dead_letters"] == [], state["dead_letters"]
