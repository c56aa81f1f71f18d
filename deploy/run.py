"""`make run`: the whole platform on this machine.

Starts embedded Postgres and NATS (data under .run/, free ports) unless ICTG_DATABASE_URL /
ICTG_NATS_URL are set, migrates, starts the four services as processes, prints their URLs and a
development token, and stops everything on Ctrl-C. Run again, it keeps its data. Webhooks may
deliver to receivers on this machine (ICTG_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true unless set).

The embedded NATS authenticates: each service is given its own user and password (generated for
the run, in .run/nats.conf), and may publish only its own subjects. With ICTG_NATS_URL, each service
connects as its ICTG_<SERVICE>_NATS_USER / _PASSWORD say, if set (else as the URL says).

A service process that dies is started again with backoff (1 s, doubling to 30 s; back to 1 s once
it has stayed up for a minute), as an orchestrator would; the others keep running meanwhile.
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

from stack import NATS_USERS, ROOT, SERVICES, migrate_all


class Supervised:
    """One service process, restarted with backoff whenever it exits."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.delay = 1.0
        self.restart_at: float | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env)
        self.started = time.monotonic()
        self.restart_at = None

    def tend(self) -> None:
        """Notice an exit and schedule, or make, the restart."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                print(f"restarting {self.name}", file=sys.stderr, flush=True)
                self.start()
            return
        if self.proc is None or (code := self.proc.poll()) is None:
            return
        if now - self.started > 60:
            self.delay = 1.0
        print(f"{self.name} exited (code {code}); restarting in {self.delay:.0f} s", file=sys.stderr, flush=True)
        self.restart_at = now + self.delay
        self.delay = min(self.delay * 2, 30.0)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def shell_urls(ports: dict[str, int]) -> dict[str, str]:
    """The shell variables the README's examples use, by service."""
    names = {"referral-intake": "INTAKE", "case-api": "CASES", "metrics": "METRICS", "webhooks": "HOOKS"}
    return {names[name]: f"http://127.0.0.1:{port}" for name, port in ports.items()}


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    settings = ServiceSettings()
    infra = Infra(
        ROOT / ".run",
        database_url=os.environ.get("ICTG_DATABASE_URL"),
        nats_url=os.environ.get("ICTG_NATS_URL"),
        nats_stream=settings.nats_stream,
        subject_prefix=settings.subject_prefix,
    )
    stopping = False
    env_file = Path(os.environ.get("ICTG_RUN_ENV_FILE", ROOT / ".run" / "env"))
    env_file.parent.mkdir(parents=True, exist_ok=True)

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs: list[Supervised] = []
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
            "ICTG_METRICS_CASES_URL": f"http://127.0.0.1:{ports['case-api']}",
        }
        # A service's own settings, on top of the shared ones (local receivers for webhooks).
        own_env = {
            "webhooks": {
                "ICTG_WEBHOOKS_ALLOW_PRIVATE_TARGETS": os.environ.get("ICTG_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true"),
            },
        }
        for name, (factory, _, _) in SERVICES.items():
            if port_open(ports[name]):
                print(f"port {ports[name]} for {name} is taken; set {SERVICES[name][1]} to another", file=sys.stderr)
                return 1
            argv = [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
                    "--port", str(ports[name]), "--no-access-log"]  # fmt: skip
            own = {**infra.nats_env(NATS_USERS[name]), **own_env.get(name, {})}
            procs.append(Supervised(name, argv, {**env, **own}))
            procs[-1].start()
        deadline = time.monotonic() + 60
        while not all(port_open(p) for p in ports.values()):
            if (
                stopping
                or any(p.proc is not None and p.proc.poll() is not None for p in procs)
                or time.monotonic() > deadline
            ):
                print("a service failed to start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        token = mint_token(
            secret=settings.auth_secret, sub="dev-staff", scopes=list(SCOPES), org_type="ictg",
            org_name="ICTG service", regions=list(REGION_SLUGS), audience=settings.auth_audience,
        )  # fmt: skip
        print("\nICTG platform is running:")
        for name, port in ports.items():
            print(f"  {name:16} http://127.0.0.1:{port}  (docs: /docs)")
        print(f"  Postgres         {infra.database_url}\n  NATS             {infra.nats_url}")
        # The tools that read the stream do it as their service: the case API's replay, metrics' rebuild.
        tools_nats = " ".join(f"{k}={v}" for user in ("cases", "metrics") for k, v in infra.nats_env(user).items())
        print("\nFor the command-line tools (rebuild, reconcile, replay, synth) in another shell:")
        print(f"  export ICTG_DATABASE_URL={infra.database_url} ICTG_NATS_URL={infra.nats_url}"
              f" ICTG_CASES_INTAKE_URL={env['ICTG_CASES_INTAKE_URL']}"
              f" ICTG_METRICS_CASES_URL={env['ICTG_METRICS_CASES_URL']} {tools_nats}".rstrip())  # fmt: skip
        print(f"\nDevelopment token (the ICTG service's staff: all scopes, 12 h):\n{token}", flush=True)
        # A token and NATS passwords: the developer's only, and whole when it appears.
        written = env_file.with_name(f".{env_file.name}.tmp")
        written.unlink(missing_ok=True)
        written.touch(mode=0o600)
        written.write_text(
            "# Written by `make run` while it runs: `. .run/env` in another shell, then the README's examples.\n"
            + "".join(f"export {var}={url}\n" for var, url in shell_urls(ports).items())
            + f"export TOKEN={token}\n"
            + f"export ICTG_DATABASE_URL={infra.database_url} ICTG_NATS_URL={infra.nats_url}\n"
            + (f"export {tools_nats}\n" if tools_nats else "")
        )
        written.replace(env_file)
        print(f"\nIn another shell, `. {os.path.relpath(env_file, ROOT)}` sets $INTAKE, $CASES, $METRICS, $HOOKS and"
              " $TOKEN for the README's examples.\n\nCtrl-C stops everything.", flush=True)  # fmt: skip
        while not stopping:
            for p in procs:
                p.tend()
            infra.tend()
            time.sleep(0.5)
        return 0
    finally:
        env_file.unlink(missing_ok=True)  # the addresses and token are good only while it runs
        for p in procs:
            p.stop()
        for p in procs:
            p.wait()
        infra.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
