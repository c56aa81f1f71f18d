"""`python -m ictg_metrics.cli.reconcile`: metrics' children by status against the case API's counts.

Exits 0 when they agree, 1 when they differ (the differences are printed as JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ictg_common.db import create_engine, create_sessionmaker

from ..admin.reconcile import case_counts, cases_client, compare, metrics_counts
from ..settings import MetricsSettings


async def _run(settings: MetricsSettings) -> dict[str, object]:
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            ours = await metrics_counts(session)
    finally:
        await engine.dispose()
    async with cases_client(settings) as cases:
        return compare(ours, await case_counts(cases))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ictg_metrics.cli.reconcile", description=__doc__)
    parser.add_argument("--cases-url", help="default: ICTG_METRICS_CASES_URL")
    args = parser.parse_args(argv)
    settings = MetricsSettings(**({"cases_url": args.cases_url} if args.cases_url else {}))
    report = asyncio.run(_run(settings))
    print(json.dumps(report, indent=2))
    return 0 if report["consistent"] else 1


if __name__ == "__main__":
    sys.exit(main())
