"""`python -m ictg_metrics.synth`: generate a realistic synthetic caseload, with a progress bar.

--to bulk    straight into metrics.event + metrics.child (national-scale benchmarks; fastest)
--to stream  onto the NATS stream, as the services' relays would publish it (metrics consumes it)
--to http    through intake and the case API (demos, end-to-end runs; times end yesterday)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import date, timedelta

import httpx
from tqdm import tqdm

from ictg_common.auth import mint_token
from ictg_common.reference import REGION_SLUGS

from ..settings import MetricsSettings
from .bulk import load
from .generate import Generator
from .http import Driver, PoliteTransport
from .stream import publish


def _token(settings: MetricsSettings, *scopes: str) -> str:
    return mint_token(secret=settings.auth_secret, sub="synth", scopes=list(scopes), org_type="ictg",
                      org_name="ICTG service", regions=list(REGION_SLUGS), audience=settings.auth_audience)  # fmt: skip


async def _http(args: argparse.Namespace, settings: MetricsSettings, gen: Generator) -> int:
    intake_h = {"Authorization": f"Bearer {_token(settings, 'referrals:write', 'referrals:import')}"}
    cases_h = {"Authorization": f"Bearer {_token(settings, 'cases:read', 'cases:write', 'cases:admin')}"}
    async with httpx.AsyncClient(base_url=args.intake_url, headers=intake_h, timeout=30,
                                 transport=PoliteTransport()) as intake, \
            httpx.AsyncClient(base_url=args.cases_url, headers=cases_h, timeout=30,
                              transport=PoliteTransport()) as cases:  # fmt: skip
        driver = Driver(intake, cases, seed=args.seed)
        await driver.setup_workers()
        with tqdm(total=args.children, unit=" children", desc="http") as bar:
            ok = await driver.run(gen.stories(args.children), progress=bar.update)
        for failure in driver.failures[:10]:
            print("failed:", failure, file=sys.stderr)
        print(f"{ok} children posted, {len(driver.failures)} failed requests")
    return 0 if not driver.failures else 1


def _default_url(url_var: str, port_var: str, port: int) -> str:
    """The service's URL as the platform is configured: its URL variable, else its port variable (the
    ports `make run` reads), else the default port."""
    return os.environ.get(url_var) or f"http://127.0.0.1:{os.environ.get(port_var) or port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ictg_metrics.synth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--to", choices=["bulk", "stream", "http"], default="bulk")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--years", type=float, default=3.0, help="referrals spread over this many years, ending yesterday"
    )
    parser.add_argument("--workers", type=int, default=2, help="bulk: worker processes")
    parser.add_argument(
        "--intake-url",
        default=_default_url("ICTG_CASES_INTAKE_URL", "ICTG_INTAKE_PORT", 8001),
        help="default: ICTG_CASES_INTAKE_URL, else 127.0.0.1 on ICTG_INTAKE_PORT (as make run)",
    )
    parser.add_argument(
        "--cases-url",
        default=_default_url("ICTG_METRICS_CASES_URL", "ICTG_CASES_PORT", 8002),
        help="default: ICTG_METRICS_CASES_URL, else 127.0.0.1 on ICTG_CASES_PORT (as make run)",
    )
    args = parser.parse_args(argv)
    settings = MetricsSettings()
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=int(args.years * 365.25))
    if args.to == "bulk":
        with tqdm(total=args.children, unit=" children", desc="bulk") as bar:
            children, events = load(settings.database_url, args.children, seed=args.seed, workers=args.workers,
                                    start=start, end=end, progress=lambda c, _e: bar.update(c))  # fmt: skip
        print(f"{children} children, {events} events loaded")
        return 0
    gen = Generator(args.seed, start=start, end=end)
    if args.to == "stream":
        with tqdm(total=args.children, unit=" children", desc="stream") as bar:
            sent = asyncio.run(publish(settings.nats_url, gen.stories(args.children), stream=settings.nats_stream,
                                       subject_prefix=settings.subject_prefix, progress=bar.update))  # fmt: skip
        print(f"{sent} events published")
        return 0
    return asyncio.run(_http(args, settings, gen))


if __name__ == "__main__":
    sys.exit(main())
