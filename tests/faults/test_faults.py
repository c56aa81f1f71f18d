"""Nothing lost, through any fault: a bounded load of referrals while Postgres, NATS or a service
process is killed with SIGKILL and started again. After each, every referral answered 201 is
exactly one case and one counted child, and nothing is parked in a dead-letter table.

`make test` runs the short version; `make chaos` (ICTG_CHAOS=1) the long one: more clients,
longer loads and outages, several kills per run, and a run of its own for each service killed.

On a 3-server NATS cluster (the stream on all three), the server leading the stream is killed
mid-load and started again; in the long run, then the leader after it (another server).

With a synchronous Postgres standby (the services on a multi-host URL, target_session_attrs=read-write),
the primary is killed mid-load, stays dead, and the standby is promoted a few seconds later (the time
a failover takes to decide): the load goes on against the promoted standby.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.support.faults_harness import Load, Platform, assert_nothing_lost, converged
from tests.support.platform import ROOT, auth, eventually

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.faults,
    pytest.mark.timeout(1500 if os.environ.get("ICTG_CHAOS") == "1" else 400),
]

CHAOS = os.environ.get("ICTG_CHAOS") == "1"
LOAD_SECONDS = 40.0 if CHAOS else 12.0
CLIENTS = 12 if CHAOS else 4
KILLS = 3 if CHAOS else 1
# The old consumer gave up after ~7.5 s of a database outage: stay down well past it.
DOWN_SECONDS = {
    "postgres": 20.0 if CHAOS else 10.0,
    "nats": 10.0 if CHAOS else 5.0,
    "postgres-failover": 8.0 if CHAOS else 4.0,
}
SERVICE_DOWN_SECONDS = 4.0 if CHAOS else 2.0


@pytest.fixture
async def platform(request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    param = getattr(request, "param", 1)
    options = param if isinstance(param, dict) else {"replicas": param}
    running = Platform(ROOT / ".run" / f"faults-{os.getpid()}-{request.node.name[-40:]}", **options)
    try:
        await asyncio.to_thread(running.start_servers)
        running.start_all()
        await running.ready()
        yield running
    finally:
        await asyncio.to_thread(running.shutdown)


def _fault(platform: Platform, target: str, replica: int) -> tuple[Callable[[], None], Callable[[], None], float]:
    """(kill, start again, how long it stays down) for a server or one replica of a service."""
    if target == "postgres":
        return platform.kill_postgres, platform.start_postgres, DOWN_SECONDS["postgres"]
    if target == "nats":
        return platform.kill_nats, platform.start_nats, DOWN_SECONDS["nats"]
    if target == "postgres-failover":  # the primary killed for good, the standby promoted after a while
        assert platform.standby is not None
        return platform.kill_postgres, platform.standby.promote, DOWN_SECONDS["postgres-failover"]
    if target == "nats-node":  # one server of the cluster
        return (lambda: platform.kill_nats(replica)), (lambda: platform.start_nats(replica)), DOWN_SECONDS["nats"]
    return (lambda: platform.kill(target, replica)), (lambda: platform.start(target, replica)), SERVICE_DOWN_SECONDS


async def _load_with_faults(platform: Platform, faults: list[tuple[str, int]]) -> Load:
    """Run the load; during it, kill and restart each (target, replica) in turn."""
    load = Load(platform.urls("referral-intake"), clients=CLIENTS)
    running = asyncio.create_task(load.run())
    slot = LOAD_SECONDS / (len(faults) + 1)
    killed: set[int] = set()
    for target, replica in faults:
        await asyncio.sleep(slot / 2)
        if target == "nats-leader":  # the server leading the stream now, else one not killed yet
            leader = await platform.stream_leader()
            target, replica = "nats-node", leader if leader not in killed else min(set(range(3)) - killed)
            killed.add(replica)
            print(f"\nkilling NATS server node-{replica} (the stream's leader was node-{leader})", flush=True)
        kill, start, down = _fault(platform, target, replica)
        await asyncio.to_thread(kill)
        await asyncio.sleep(down)
        await asyncio.to_thread(start)
        await asyncio.sleep(slot / 2)
    await asyncio.sleep(slot)
    load.stop.set()
    await running
    return load


# Under `make chaos` each server and service has a run of its own, killed KILLS times; in the suite the
# three services are killed in turn in one run (each wholly down for a while: one replica of each), which
# costs one platform's start-up and load instead of three.
TARGETS = (
    [["postgres"], ["nats"], ["referral-intake"], ["case-api"], ["metrics"]]
    if CHAOS
    else [["postgres"], ["nats"], ["referral-intake", "case-api", "metrics"]]
)


@pytest.mark.parametrize("targets", TARGETS, ids="+".join)
async def test_every_referral_answered_201_becomes_one_case_through_a_kill_of(
    platform: Platform, targets: list[str]
) -> None:
    await _nothing_lost_through(platform, [(target, 0) for target in targets for _ in range(KILLS)])


@pytest.mark.parametrize("platform", [2], indirect=True)
async def test_two_replicas_of_everything_one_of_each_killed_mid_load(platform: Platform) -> None:
    await _nothing_lost_through(platform, [("referral-intake", 0), ("case-api", 0), ("metrics", 0)])

    # Missed deadlines with both SLA watchers racing: one sla.breached per case and clock.
    sample = await platform.query('SELECT id FROM cases."case" ORDER BY id LIMIT 20')
    ids = [r["id"] for r in sample]
    await platform.query(
        "UPDATE cases.\"case\" SET opened_at = now() - interval '3 hours', "
        "allocation_due_by = now() - interval '2 hours', first_contact_due_by = now() - interval '1 hour' "
        f"WHERE id = ANY(ARRAY[{','.join(repr(str(i)) for i in ids)}]::uuid[])"
    )

    async def breaches() -> list[Any]:
        rows = await platform.query(
            "SELECT payload->>'subject' AS case_id, payload->'data'->>'clock' AS clock FROM cases.outbox "
            "WHERE payload->>'type' = 'ictg.sla.breached.v1'"
        )
        return rows if len(rows) >= 2 * len(ids) else []

    found = await eventually(breaches, timeout=60, interval=0.5)
    await asyncio.sleep(3)  # both watchers have looked again since
    found = await breaches()
    pairs = [(r["case_id"], r["clock"]) for r in found]
    assert len(pairs) == len(set(pairs)) == 2 * len(ids)


@pytest.mark.parametrize("platform", [{"nats_cluster": 3}], indirect=True)
async def test_a_nats_cluster_loses_nothing_when_the_stream_leader_is_killed_then_another_server(
    platform: Platform,
) -> None:
    await _nothing_lost_through(platform, [("nats-leader", 0)] * (2 if CHAOS else 1))
    assert await platform.stream_leader() in range(3)  # the stream is on three servers still


@pytest.mark.parametrize("platform", [{"pg_standby": True}], indirect=True)
async def test_a_postgres_standby_promoted_when_the_primary_is_killed_mid_load_loses_no_referral_answered_201(
    platform: Platform,
) -> None:
    await _nothing_lost_through(platform, [("postgres-failover", 0)])
    assert platform.standby is not None and not platform.standby.is_standby()
    # Everything above was read from, and written to, the promoted standby: the primary stayed dead.
    assert not platform.pg.alive
    rows = await platform.query("SELECT current_setting('port')::int AS port, pg_is_in_recovery() AS standby")
    assert (rows[0]["port"], rows[0]["standby"]) == (platform.standby.port, False)


async def _nothing_lost_through(platform: Platform, faults: list[tuple[str, int]]) -> None:
    """Load with `faults`, wait for the platform to settle, and prove nothing was lost or doubled,
    by the database's own rows and by the case API's reconciliation of intake against its cases."""
    load = await _load_with_faults(platform, faults)
    await platform.ready()
    settled = asyncio.get_running_loop().time()
    state = await converged(platform, load.answered, timeout=240)
    print(
        f"\n{faults}: {len(load.answered)} referrals answered 201 in {load.attempts} requests "
        f"({load.failures} refused or unanswered during faults, retried with their key); every case "
        f"and counted child there {asyncio.get_running_loop().time() - settled:.1f} s after the load",
        flush=True,
    )
    assert_nothing_lost(state, load.answered)
    assert load.unexpected == []
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(f"{platform.url('case-api')}/v1/admin/reconcile", headers=auth("cases:admin"))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["consistent"] and report["missing"] == [] and report["unexpected"] == [], report
