"""Profile of `POST /v1/referrals`: ~5,000 referrals stored, then 500 POSTs timed one after another
against the intake app in process (its lifespan, relay and NATS as in production).

    .venv/bin/python benchmarks/intake_post_profile.py [--py-spy out.svg | --cprofile out.prof]

The parent starts an embedded Postgres and NATS, migrates and seeds a database (through the API, so
whatever the service stores beside a referral is stored too), then runs the timed loop in a child
process — under `py-spy record` when asked, so the profile holds the loop only. Each request's
wall time (ms: mean, p50, p95) and the SQL statements it sent are printed; nothing is asserted.

The data is shaped like the caseload: most children of a few nationalities, many with an estimated
age of 15-17 (so one nationality and age holds hundreds of earlier referrals), about one in ten a
second referral of a child already known, under a typo, swapped order or missing family name.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from ictg_common.runtime import runtime_of

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run by hand as a script: the repo root, for tests.support

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
SEED = int(os.environ.get("ICTG_BENCH_INTAKE_STORED", "5000"))
POSTS = int(os.environ.get("ICTG_BENCH_INTAKE_POSTS", "500"))

NAMES = {
    "VN": (["An", "Minh", "Tuan", "Duc", "Hung", "Long", "Nam", "Quang", "Thanh", "Van"],
           ["Nguyen", "Tran", "Le", "Pham", "Hoang", "Vu", "Dang", "Bui", "Do", "Ngo"]),
    "AL": (["Arben", "Besnik", "Dritan", "Elton", "Fatjon", "Gentian", "Klevis", "Luan", "Marsel", "Orges"],
           ["Hoxha", "Shehu", "Leka", "Krasniqi", "Gashi", "Berisha", "Dervishi", "Kola", "Muça", "Çela"]),
    "ER": (["Yonas", "Tesfay", "Dawit", "Samuel", "Filmon", "Mehari", "Robel", "Kidane", "Amanuel", "Habte"],
           ["Tesfamariam", "Gebremedhin", "Haile", "Berhane", "Woldu", "Kahsay", "Ghebre", "Tekle", "Abraha", "Asmerom"]),
    "SD": (["Mohamed", "Ahmed", "Osman", "Ibrahim", "Yousif", "Abdelrahman", "Hassan", "Adam", "Ali", "Omer"],
           ["Abdalla", "Elsheikh", "Babiker", "Hamid", "Idris", "Musa", "Suleiman", "Yahia", "Elamin", "Khalil"]),
    "GB": (["Jack", "Callum", "Tyler", "Kyle", "Liam", "Mason", "Jayden", "Ellie", "Chloe", "Amber"],
           ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Walker", "Wright", "Roberts", "Hughes"]),
}  # fmt: skip
WEIGHTS = {"VN": 35, "AL": 25, "ER": 10, "SD": 10, "GB": 20}


def typo(rng: random.Random, name: str) -> str:
    i = rng.randrange(1, len(name))
    kind = rng.choice(("drop", "swap", "double"))
    if kind == "drop":
        return name[:i] + name[i + 1 :]
    if kind == "swap" and i < len(name) - 1:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name[:i] + name[i] + name[i:]


def child(rng: random.Random, known: list[dict[str, Any]]) -> dict[str, Any]:
    if known and rng.random() < 0.1:  # a second referral of a known child, written differently
        c = dict(rng.choice(known))
        how = rng.choice(("typo", "swap", "no_family"))
        if how == "typo":
            c["given_name"] = typo(rng, c["given_name"])
        elif how == "swap" and c["family_name"]:
            c["given_name"], c["family_name"] = c["family_name"], c["given_name"]
        else:
            c["family_name"] = None
        return c
    nat = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    given, family = NAMES[nat]
    c = {
        "given_name": rng.choice(given), "family_name": rng.choice(family),
        "other_names": [f"{rng.choice(given)} {rng.choice(family)}"] if rng.random() < 0.2 else [],
        "nationality": nat, "date_of_birth": None, "estimated_age": None,
    }  # fmt: skip
    if rng.random() < 0.5:
        c["estimated_age"] = rng.choice((15, 16, 16, 17))
    else:
        c["date_of_birth"] = f"{rng.randint(2009, 2012)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return c


def body(rng: random.Random, known: list[dict[str, Any]]) -> dict[str, Any]:
    from tests.support.factories import referral_body

    c = child(rng, known)
    known.append(c)
    return referral_body(
        child__given_name=c["given_name"], child__family_name=c["family_name"], child__other_names=c["other_names"],
        child__nationality=c["nationality"], child__date_of_birth=c["date_of_birth"],
        child__estimated_age=c["estimated_age"], child__age_disputed=True, identified_on="2026-11-02",
        circumstances__uasc=c["nationality"] != "GB",  # a British child is not an asylum seeker (422)
    )  # fmt: skip


def headers(*scopes: str) -> dict[str, str]:
    from ictg_common.auth import mint_token
    from ictg_common.reference import REGION_SLUGS

    token = mint_token(
        secret=SECRET, sub="bench", scopes=list(scopes), org_type="police" if set(scopes) <= {"referrals:write"} else "ictg",
        org_name="Greater Manchester Police" if set(scopes) <= {"referrals:write"} else "ICTG service",
        regions=list(REGION_SLUGS), ttl_seconds=3600, audience="ictg",
    )  # fmt: skip
    return {"Authorization": f"Bearer {token}"}


def settings(env: dict[str, str]) -> Any:
    from ictg_intake.settings import IntakeSettings

    return IntakeSettings(
        database_url=env["db"], nats_url=env["nats"], nats_stream="BENCHINTAKE", subject_prefix="benchintake",
        auth_secret=SECRET, rate_limit_per_minute=1_000_000,
    )  # fmt: skip


def quiet() -> None:
    """No log line per request (the service's logging is configured in its lifespan)."""
    for name in ("httpx", "ictg_common.outbox"):
        logging.getLogger(name).setLevel(logging.WARNING)


async def seed(env: dict[str, str], rng: random.Random, known: list[dict[str, Any]]) -> None:
    from ictg_intake.app import create_app
    from tests.support.platform import serve

    h = headers("referrals:import")
    async with serve(create_app(settings(env))) as client:
        quiet()
        for start in range(0, SEED, 50):
            bodies = [body(rng, known) for _ in range(min(50, SEED - start))]
            answers = await asyncio.gather(*(client.post("/v1/referrals", json=b, headers=h) for b in bodies))
            assert all(a.status_code == 201 for a in answers), answers[0].text


async def loop(env: dict[str, str]) -> dict[str, Any]:
    from sqlalchemy import event

    from ictg_intake.app import create_app
    from tests.support.platform import serve

    rng = random.Random(2)
    known = json.loads(Path(env["known"]).read_text())
    app = create_app(settings(env))
    h = headers("referrals:write")
    times, statements, dupes = [], [], 0
    async with serve(app) as client:
        quiet()
        count = [0]
        started: list[float] = []
        by_statement: dict[str, float] = {}

        def before(*_: Any) -> None:
            count[0] += 1
            started.append(time.perf_counter())

        def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            what = " ".join(statement.split()[:4])[:48]
            by_statement[what] = by_statement.get(what, 0.0) + (time.perf_counter() - started.pop()) * 1000

        event.listen(runtime_of(app).engine.sync_engine, "before_cursor_execute", before)
        event.listen(runtime_of(app).engine.sync_engine, "after_cursor_execute", after)
        checkouts = [0]
        event.listen(
            runtime_of(app).engine.sync_engine.pool, "checkout", lambda *_: checkouts.__setitem__(0, checkouts[0] + 1)
        )
        for _ in range(20):  # warm-up: connections, prepared statements
            await client.post("/v1/referrals", json=body(rng, known), headers=h)
        by_statement.clear()
        checkouts[0] = 0
        for _ in range(POSTS):
            b = body(rng, known)
            count[0] = 0
            t0 = time.perf_counter()
            r = await client.post("/v1/referrals", json=b, headers={**h, "Idempotency-Key": str(uuid.uuid4())})
            times.append((time.perf_counter() - t0) * 1000)
            statements.append(count[0])
            assert r.status_code == 201, r.text
            dupes += bool(r.json()["possible_duplicate_of"])
    times.sort()
    return {
        "posts": POSTS, "mean_ms": round(statistics.mean(times), 2), "p50_ms": round(times[len(times) // 2], 2),
        "p95_ms": round(times[int(len(times) * 0.95)], 2), "sql_statements_per_post": statistics.mean(statements),
        "pool_checkouts_per_post": checkouts[0] / POSTS,
        "with_duplicates": dupes,
        "ms_per_post_by_statement": {k: round(v / POSTS, 2) for k, v in sorted(by_statement.items(), key=lambda kv: -kv[1])},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--py-spy", help="record the timed loop with py-spy into this file (.svg or .txt)")
    parser.add_argument("--cprofile", help="profile the timed loop with cProfile into this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        env = json.loads(args.child)
        if env.get("cprofile"):
            import cProfile

            with cProfile.Profile() as prof:
                result = asyncio.run(loop(env))
            prof.dump_stats(env["cprofile"])
        else:
            result = asyncio.run(loop(env))
        print(json.dumps(result))
        return

    from ictg_common.devinfra import ensure_database, scratch_infra
    from ictg_common.migrate import upgrade
    from ictg_intake.app import MIGRATIONS

    with scratch_infra(ROOT / ".run" / f"bench-intake-{os.getpid()}") as infra:
        url = f"{infra.database_url.rsplit('/', 1)[0]}/ictg_bench_intake"
        ensure_database(url)
        upgrade(MIGRATIONS, url)
        env = {"db": url, "nats": infra.nats_url, "known": str(ROOT / ".run" / f"bench-intake-{os.getpid()}.json")}
        rng, known = random.Random(1), []
        t0 = time.perf_counter()
        asyncio.run(seed(env, rng, known))
        print(f"seeded {SEED} referrals in {time.perf_counter() - t0:.1f}s", flush=True)
        Path(env["known"]).write_text(json.dumps(known))
        if args.cprofile:
            env["cprofile"] = args.cprofile
        cmd = [sys.executable, __file__, "--child", json.dumps(env)]
        if args.py_spy:
            fmt = "raw" if args.py_spy.endswith(".txt") else "flamegraph"
            spy = str(Path(sys.executable).with_name("py-spy"))
            cmd = [spy, "record", "--rate", "200", "--format", fmt, "-o", args.py_spy, "--", *cmd]
        try:
            subprocess.run(cmd, check=True)
        finally:
            Path(env["known"]).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
