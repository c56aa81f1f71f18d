"""`python -m ictg_metrics.cli.rebuild`: refold every child from the stored events and swap the tables."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from tqdm import tqdm

from ..admin.rebuild import RebuildRunning, rebuild
from ..admin.replay import replay_stream
from ..settings import MetricsSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ictg_metrics.cli.rebuild", description=__doc__)
    parser.add_argument("--database-url", help="default: ICTG_DATABASE_URL")
    parser.add_argument("--from-stream", action="store_true",
                        help="first re-read the NATS stream from its start, storing any event missing here")  # fmt: skip
    args = parser.parse_args(argv)
    settings = MetricsSettings()
    url = args.database_url or settings.database_url
    if args.from_stream:
        with tqdm(unit=" events", desc="stream") as bar:
            replayed = asyncio.run(replay_stream(url, settings.nats_url, stream=settings.nats_stream,
                                                 subject_prefix=settings.subject_prefix,
                                                 credentials=settings.nats_credentials, progress=bar.update))  # fmt: skip
        print(json.dumps({"replayed": replayed}))
    with tqdm(unit=" children", desc="rebuild") as bar:
        try:
            result = asyncio.run(rebuild(url, progress=bar.update))
        except RebuildRunning as exc:
            print(f"rebuild: {exc}", file=sys.stderr)
            return 2
    print(json.dumps(result.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
