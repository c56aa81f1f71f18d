"""Duplicate matching's query alone (issue 13): `repository.candidates()` timed, and its plan, among
ICTG_BENCH_STORED referrals (default 100,000) seeded as `test_intake_scale.py` seeds them
(Vietnamese, Albanian and British, born over 900 days so aged 15-17, names of a family and a given
name and five hex digits) and, with `--estimated F`, a fraction F of them with an estimated age of
15-17 instead of a date of birth (the caseload's shape: many UASC children's ages are estimates).

    .venv/bin/python benchmarks/duplicate_query.py [--estimated 0.5] [--keep] [--explain]

An embedded Postgres under `.run/duplicate-query` (or ICTG_DATABASE_URL), migrated to head; with
`--keep` it stays up and seeded for the next run (seeded again only when the migrations changed the
schema: pass `--reseed`). Prints, for a few typical names, the median and worst time of
`candidates()` over a few runs, the number of candidates and how many of them the difflib rule
confirms (to compare queries: `--revision 0005 --repository` an older repository.py); nothing is
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from test_intake_scale import FAMILY, GIVEN  # noqa: E402

STORED = int(os.environ.get("ICTG_BENCH_STORED", "100000"))
RUNS = 7
# (given, family, nationality, date of birth offset in days before today, or estimated age)
PROBES: list[tuple[str, str, str, int | None, int | None]] = [
    ("An", "Nguyen", "VN", 16 * 365 + 99, None),
    ("An Minh123456", "Nguyen", "VN", 16 * 365 + 99, None),  # as the scale benchmark posts
    ("Arben", "Hoxha", "AL", 16 * 365 + 19, None),
    ("Jack", "Smith", "GB", 17 * 365, None),
    ("An", "Nguyen", "VN", None, 16),
    ("Minh", "Tran", "VN", None, 15),
]


async def seed(url: str, n: int, estimated: float) -> None:
    from ictg_common.db import plain_url

    conn = await asyncpg.connect(plain_url(url))
    try:
        await conn.execute("TRUNCATE intake.referral CASCADE")
        given = "(ARRAY['" + "','".join(g.lower() for g in GIVEN) + "'])[1 + (i * 7) % 20]"
        family = "(ARRAY['" + "','".join(f.lower() for f in FAMILY) + "'])[1 + (i * 13) % 20]"
        cut = int(n * estimated)
        dob = date.today() - timedelta(days=16 * 365)
        await conn.execute(
            "INSERT INTO intake.referral (id, received_at, identified_on, org_type, org_name, submitted_by, "
            "local_authority_code, region, pathway, date_of_birth, estimated_age, nationality, name_key, body, "
            "derived, possible_duplicate_of) "
            f"SELECT gen_random_uuid(), now() - make_interval(days => i % 1500), current_date - 1 - i % 1500, "
            "'police', 'Bench Police', 'bench', 'E08000003', 'north_west', 'local_authority', "
            f"CASE WHEN i > {cut} THEN $2::date - (i % 900) END, CASE WHEN i <= {cut} THEN 15 + (i / 3) % 3 END, "
            f"(ARRAY['VN','AL','GB'])[1 + i % 3], {family} || ' ' || {given} || substr(md5(i::text), 1, 5), "
            "'{}', '{}', '{}' FROM generate_series(1, $1) AS i",
            n, dob,
        )  # fmt: skip
        columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'intake' "
                "AND table_name = 'referral_name' AND column_name NOT IN ('referral_id', 'name_key')"
            )
        ]
        extra = "".join(f", {c}" for c in columns)
        await conn.execute(
            f"INSERT INTO intake.referral_name (referral_id, name_key{extra}) "
            f"SELECT id, name_key{extra} FROM intake.referral"
        )
        await conn.execute("VACUUM ANALYZE intake.referral")
        await conn.execute("VACUUM ANALYZE intake.referral_name")
    finally:
        await conn.close()


async def measure(url: str, *, explain: bool, repository_file: str | None) -> None:
    from ictg_common.db import create_engine, create_sessionmaker
    from ictg_intake.referrals import repository
    from ictg_intake.referrals.service import duplicates, name_key

    if repository_file:
        spec = importlib.util.spec_from_file_location("ictg_intake.referrals._measured", repository_file)
        assert spec is not None and spec.loader is not None
        repository = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(repository)

    engine = create_engine(url, pool_size=1)
    sessions = create_sessionmaker(engine)
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    today = date.today()
    try:
        print(f"{'name':28} {'born / age':>12} {'median ms':>10} {'max ms':>8} {'candidates':>11} {'confirmed':>10}")
        probes = [(name_key(given, family), nat, born, age) for given, family, nat, born, age in PROBES]
        for _, nat, born, age in probes[:]:  # and a stored name of each crowd with a typo: a true duplicate
            async with sessions() as session:
                stored = await session.scalar(
                    text("SELECT name_key FROM intake.referral WHERE nationality = :n AND (date_of_birth = :d "
                         "OR estimated_age = :a) ORDER BY id LIMIT 1"),
                    {"n": nat, "d": today - timedelta(days=born) if born is not None else None, "a": age},
                )  # fmt: skip
            if stored:
                probes.append((stored[:3] + stored[4:], nat, born, age))
        for key, nat, born, age in probes:
            dob = today - timedelta(days=born) if born is not None else None
            times, found = [], []
            for _ in range(RUNS):
                async with sessions() as session, session.begin():
                    captured.clear()
                    t = time.perf_counter()
                    found = await repository.candidates(
                        session, names=[key], nationality=nat, date_of_birth=dob, estimated_age=age,
                        received_on=today,
                    )  # fmt: skip
                    times.append((time.perf_counter() - t) * 1000)
            label = str(dob) if dob else f"age {age}"
            confirmed = len(duplicates([key], found))  # what difflib keeps: the same with any correct query
            print(f"{key[:28]:28} {label:>12} {statistics.median(times):10.2f} {max(times):8.2f} {len(found):11} "
                  f"{confirmed:10}")  # fmt: skip
            if explain:
                statement, parameters = captured[-1]
                async with sessions() as session, session.begin():
                    for s, p in captured[:-1]:
                        await (await session.connection()).exec_driver_sql(s, p)
                    rows = await (await session.connection()).exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters
                    )
                    print("\n".join("    " + r[0] for r in rows))
        async with sessions() as session:
            sizes = (
                await session.execute(
                    text(
                        "SELECT c.relname, pg_size_pretty(pg_relation_size(c.oid)) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'intake' "
                        "AND c.relname LIKE '%referral_name%' ORDER BY 1"
                    )
                )
            ).all()
            print("sizes: " + ", ".join(f"{r[0]} {r[1]}" for r in sizes))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--estimated", type=float, default=0.0, help="fraction seeded with an estimated age")
    parser.add_argument("--keep", action="store_true", help="leave Postgres running and seeded")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each probe's query")
    parser.add_argument("--revision", default="head", help="migrate to this revision (its own database)")
    parser.add_argument("--repository", help="take `candidates` from this copy of repository.py (e.g. the old one)")
    args = parser.parse_args()

    from ictg_common.devinfra import Infra, ensure_database
    from ictg_common.migrate import upgrade
    from ictg_intake.app import MIGRATIONS

    infra = Infra(ROOT / ".run" / "duplicate-query", database_url=os.environ.get("ICTG_DATABASE_URL"), nats_url="-")
    infra.start()
    try:
        url = f"{infra.database_url.rsplit('/', 1)[0]}/ictg_duplicate_query_{args.revision}"
        ensure_database(url)
        upgrade(MIGRATIONS, url, args.revision)

        async def stored() -> int:
            from ictg_common.db import plain_url

            conn = await asyncpg.connect(plain_url(url))
            try:
                return int(await conn.fetchval("SELECT count(*) FROM intake.referral"))
            finally:
                await conn.close()

        if args.reseed or asyncio.run(stored()) != STORED:
            t = time.perf_counter()
            asyncio.run(seed(url, STORED, args.estimated))
            print(f"seeded {STORED:,} referrals ({args.estimated:.0%} with an estimated age) "
                  f"in {time.perf_counter() - t:.1f} s")  # fmt: skip
        asyncio.run(measure(url, explain=args.explain, repository_file=args.repository))
    finally:
        if not args.keep:
            infra.stop()


if __name__ == "__main__":
    main()
