"""`python -m ictg_cases.cli.replay`: open the cases missing here by replaying `referral.received` from the stream.

Reads the ICTG_* settings (database, NATS, stream, ICTG_CASES_INTAKE_URL for the claim check) and
prints the counts as JSON. Safe while the case API runs. Exits 0 when every event read has its
case, 1 when some could not be opened (or the stream stopped answering), 2 when NATS, the database
or intake is down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ictg_common.db import create_engine, create_sessionmaker
from ictg_common.logs import configure_logging

from ..admin.replay import ReplayResult, ReplayUnavailable, replay_referrals
from ..cases.claimcheck import IntakeClient
from ..settings import CasesSettings


async def _run(settings: CasesSettings) -> ReplayResult:
    engine = create_engine(settings.database_url, pool_size=2, max_overflow=0)
    intake = IntakeClient(settings)
    try:
        return await replay_referrals(create_sessionmaker(engine), intake=intake, settings=settings)
    finally:
        await intake.aclose()
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ictg_cases.cli.replay", description=__doc__)
    parser.add_argument("--intake-url", help="default: ICTG_CASES_INTAKE_URL")
    args = parser.parse_args(argv)
    settings = CasesSettings(**({"intake_url": args.intake_url} if args.intake_url else {}))
    configure_logging("case-api-replay", settings.log_level)
    try:
        result = asyncio.run(_run(settings))
    except ReplayUnavailable as exc:
        print(json.dumps({**exc.result.as_dict(), "error": str(exc)}))
        return 2
    print(json.dumps(result.as_dict()))
    return 0 if result.failed == 0 and result.complete else 1


if __name__ == "__main__":
    sys.exit(main())
