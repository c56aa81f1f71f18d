"""`python -m ictg_cases.cli.reconcile`: every referral intake holds against the cases here.

Prints the report as JSON. Exits 0 when consistent, 1 on a mismatch (a referral without a case
beyond the grace period, or a case whose referral intake does not know), 2 when intake or the
database is down. `--repair` then replays the stream for the referrals without a case (the exit
code still tells what was found; run it again to see the result).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

from ictg_common.db import create_engine, create_sessionmaker

from ..admin.reconcile import reconcile
from ..admin.schedule import repair
from ..cases.claimcheck import IntakeClient, IntakeUnavailable
from ..settings import CasesSettings


async def _run(settings: CasesSettings, *, grace: float | None, fix: bool) -> tuple[bool, dict[str, Any]]:
    engine = create_engine(settings.database_url, pool_size=2, max_overflow=0)
    intake = IntakeClient(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        report = await reconcile(
            sessionmaker, intake=intake, settings=settings, grace=None if grace is None else timedelta(seconds=grace)
        )
        out = report.as_dict()
        if fix and report.overdue:
            out["repair"] = await repair(sessionmaker, report, intake=intake, settings=settings)
        return report.consistent, out
    finally:
        await intake.aclose()
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ictg_cases.cli.reconcile", description=__doc__)
    parser.add_argument("--intake-url", help="default: ICTG_CASES_INTAKE_URL")
    parser.add_argument("--grace", type=float, metavar="SECONDS", help="default: ICTG_CASES_RECONCILE_GRACE_SECONDS")
    parser.add_argument("--repair", action="store_true", help="replay the stream for referrals without a case")
    args = parser.parse_args(argv)
    settings = CasesSettings(**({"intake_url": args.intake_url} if args.intake_url else {}))
    try:
        consistent, report = asyncio.run(_run(settings, grace=args.grace, fix=args.repair))
    except IntakeUnavailable as exc:
        print(f"reconcile: intake did not answer: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0 if consistent else 1


if __name__ == "__main__":
    sys.exit(main())
