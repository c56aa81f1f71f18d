"""`make run`: the whole platform on this machine.

Starts embedded Postgres and NATS (data under .run/, free ports) unless ICTG_DATABASE_URL /
ICTG_NATS_URL are set, migrates, starts the three services as processes, prints their URLs and a
development token, and stops everything on Ctrl-C. Run again, it keeps its data.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ictg_common.auth import SCOPES, mint_token
from ictg_common.devinfra import Infra, port_open
from ictg_common.reference import REGION_SLUGS
from ictg_common.settings import ServiceSettings

from stack import ROOT, SERVICES, migrate_all


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    infra = Infra(
        ROOT / ".run",
        database_url=os.environ.get("ICTG_DATABASE_URL"),
        nats_url=os.environ.get("ICTG_NATS_URL"),
    )
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        print("starting Postgres and NATS…", flush=True)
        infra.start()
        print("migrating…", flush=True)
        migrate_all(infra.database_url)
        ports = {name: int(os.environ.get(var, default)) for name, (_, var, default) in SERVICES.items()}
        env = {
            **os.environ,
            "ICTG_DATABASE_URL": infra.database_url,
            "ICTG_NATS_URL": infra.nats_url,
            "ICTG_CASES_INTAKE_URL": f"http://127.0.0.1:{ports['referral-intake']}",
        }
        for name, (factory, _, _) in SERVICES.items():
            if port_open(ports[name]):
                print(f"port {ports[name]} for {name} is taken; set {SERVICES[name][1]} to another", file=sys.stderr)
                return 1
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        factory,
                        "--factory",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(ports[name]),
                        "--no-access-log",
                    ],
                    env=env,
                )
            )
        deadline = time.monotonic() + 60
        while not all(port_open(p) for p in ports.values()):
            if stopping or any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                print("a service failed to start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        settings = ServiceSettings()
        token = mint_token(
            secret=settings.auth_secret, sub="dev-user", scopes=list(SCOPES), org_type="police",
            org_name="Development Police", regions=list(REGION_SLUGS), audience=settings.auth_audience,
        )  # fmt: skip
        print("\nICTG platform is running:")
        for name, port in ports.items():
            print(f"  {name:16} http://127.0.0.1:{port}  (docs: /docs)")
        print(f"  Postgres         {infra.database_url}\n  NATS             {infra.nats_url}")
        print("\nFor the command-line tools (rebuild, reconcile, synth) in another shell:")
        print(f"  export ICTG_DATABASE_URL={infra.database_url} ICTG_NATS_URL={infra.nats_url}")
        print(f"\nDevelopment token (all scopes, 12 h):\n{token}\n\nCtrl-C stops everything.", flush=True)
        while not stopping:
            if any(p.poll() is not None for p in procs):
                print("a service exited; stopping", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        infra.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
