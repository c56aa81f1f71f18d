"""`make run`: the whole platform on this machine.

Starts embedded Postgres and NATS (data under .run/, free ports) unless ICTG_DATABASE_URL /
ICTG_NATS_URL are set, migrates, registers the development clients at the token service (a police
force, a council with two codes, an analyst, the staff, and the services themselves; fresh secrets
each run), starts the five services as processes, writes the clients' ids and secrets to .run/env,
and stops everything on Ctrl-C. Every service trusts the token service's keys (ICTG_AUTH_ISSUERS);
the case API and metrics get their own tokens there (client credentials). Development mode stays on
(ICTG_AUTH_DEVELOPMENT=true), so the tests' minting CLI still works against it. Run again, it keeps its data. Webhooks may
deliver to receivers on this machine (ICTG_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true unless set).

ICTG_DEV_NATS_CLUSTER=3: the embedded NATS is three servers clustered on free ports (each with its
own JetStream store under .run/nats-cluster/), the services given all three (ICTG_NATS_URL, comma-
separated) and the stream kept on all three (ICTG_NATS_REPLICAS=3 unless set). One server by default.

ICTG_DEV_PG_STANDBY=1: the embedded Postgres has a synchronous streaming standby (under .run/pg-standby/,
made with pg_basebackup), and the services are given both servers in one URL with
target_session_attrs=read-write, as with a managed HA Postgres. A server that dies is started again; once
the standby has been promoted (`SELECT pg_promote()` on it), the old primary is left stopped.

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

import asyncio
import json

import httpx

from ictg_common.devinfra import Infra, port_open
from ictg_common.settings import ServiceSettings
from ictg_identity.admin import register_dev_clients

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
    names = {"referral-intake": "INTAKE", "case-api": "CASES", "metrics": "METRICS", "webhooks": "HOOKS",
             "identity": "IDENTITY"}  # fmt: skip
    return {names[name]: f"http://127.0.0.1:{port}" for name, port in ports.items()}


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("ICTG_AUTH_DEVELOPMENT", "true")
    settings = ServiceSettings()
    cluster = int(os.environ.get("ICTG_DEV_NATS_CLUSTER", "1") or 1)
    if cluster > 1 and not os.environ.get("ICTG_NATS_URL"):
        os.environ.setdefault("ICTG_NATS_REPLICAS", str(min(cluster, 3)))
    infra = Infra(
        ROOT / ".run",
        database_url=os.environ.get("ICTG_DATABASE_URL"),
        nats_url=os.environ.get("ICTG_NATS_URL"),
        nats_stream=settings.nats_stream,
        subject_prefix=settings.subject_prefix,
        nats_cluster=cluster,
        pg_standby=os.environ.get("ICTG_DEV_PG_STANDBY", "") in ("1", "true"),
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
        clients = asyncio.run(register_dev_clients(infra.database_url))
        ports = {name: int(os.environ.get(var, default)) for name, (_, var, default) in SERVICES.items()}
        issuer = f"http://127.0.0.1:{ports['identity']}"
        env = {
            **os.environ,
            "ICTG_DATABASE_URL": infra.database_url,
            "ICTG_NATS_URL": infra.nats_url,
            "ICTG_CASES_INTAKE_URL": f"http://127.0.0.1:{ports['referral-intake']}",
            "ICTG_METRICS_CASES_URL": f"http://127.0.0.1:{ports['case-api']}",
            "ICTG_AUTH_ISSUERS": os.environ.get("ICTG_AUTH_ISSUERS", json.dumps([{"issuer": issuer}])),
            "ICTG_AUTH_TOKEN_URL": f"{issuer}/oauth2/token",
            "ICTG_IDENTITY_ISSUER": issuer,
        }
        # A service's own settings, on top of the shared ones (local receivers for webhooks, the clients the
        # case API and metrics get their tokens with).
        own_env = {
            "webhooks": {
                "ICTG_WEBHOOKS_ALLOW_PRIVATE_TARGETS": os.environ.get("ICTG_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true"),
            },
            "case-api": {"ICTG_CASES_CLIENT_ID": clients["CASES_CLIENT"][0],
                         "ICTG_CASES_CLIENT_SECRET": clients["CASES_CLIENT"][1]},
            "metrics": {"ICTG_METRICS_CLIENT_ID": clients["METRICS_CLIENT"][0],
                        "ICTG_METRICS_CLIENT_SECRET": clients["METRICS_CLIENT"][1]},
        }  # fmt: skip
        for name, (factory, _, _) in SERVICES.items():
            if port_open(ports[name]):
                print(f"port {ports[name]} for {name} is taken; set {SERVICES[name][1]} to another", file=sys.stderr)
                return 1
            argv = [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
                    "--port", str(ports[name]), "--no-access-log"]  # fmt: skip
            nats_user = NATS_USERS.get(name)
            own = {**(infra.nats_env(nats_user) if nats_user else {}), **own_env.get(name, {})}
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
        token = staff_token(issuer, clients["STAFF"])
        print("\nICTG platform is running:")
        for name, port in ports.items():
            print(f"  {name:16} http://127.0.0.1:{port}  (docs: /docs)")
        print(f"  Postgres         {infra.database_url}\n  NATS             {infra.nats_url}")
        if infra.standby is not None and infra.pg is not None:
            print(f"  A failover: kill the primary (its pid: {infra.pg.data / 'postmaster.pid'}), then promote the "
                  f"standby: `SELECT pg_promote()` on port {infra.standby.port}")  # fmt: skip
        # The tools that read the stream do it as their service: the case API's replay, metrics' rebuild.
        tools_nats = " ".join(f"{k}={v}" for user in ("cases", "metrics") for k, v in infra.nats_env(user).items())
        print("\nFor the command-line tools (rebuild, reconcile, replay, synth) in another shell:")
        print(f"  export ICTG_AUTH_DEVELOPMENT=true ICTG_DATABASE_URL={infra.database_url} ICTG_NATS_URL={infra.nats_url}"
              f" ICTG_CASES_INTAKE_URL={env['ICTG_CASES_INTAKE_URL']}"
              f" ICTG_METRICS_CASES_URL={env['ICTG_METRICS_CASES_URL']} {tools_nats}".rstrip())  # fmt: skip
        print("\nDevelopment clients (ids and secrets in .run/env; a token from each: README):")
        for var, (client_id, _) in clients.items():
            print(f"  ${var}_ID  {client_id}")
        print(
            f"\nA staff token (all scopes, 15 minutes; get the next one from the token service):\n{token}", flush=True
        )
        # A token and NATS passwords: the developer's only, and whole when it appears.
        written = env_file.with_name(f".{env_file.name}.tmp")
        written.unlink(missing_ok=True)
        written.touch(mode=0o600)
        written.write_text(
            "# Written by `make run` while it runs: `. .run/env` in another shell, then the README's examples.\n"
            + "".join(f"export {var}={url}\n" for var, url in shell_urls(ports).items())
            + f"export TOKEN={token}\n"
            + "".join(f"export {var}_ID={cid} {var}_SECRET={secret}\n" for var, (cid, secret) in clients.items())
            + f"export ICTG_AUTH_DEVELOPMENT=true ICTG_DATABASE_URL={infra.database_url} ICTG_NATS_URL={infra.nats_url}\n"
            + (f"export {tools_nats}\n" if tools_nats else "")
        )
        written.replace(env_file)
        print(f"\nIn another shell, `. {os.path.relpath(env_file, ROOT)}` sets $INTAKE, $CASES, $METRICS, $HOOKS,"
              " $IDENTITY, the clients' $…_ID and $…_SECRET, and $TOKEN for the README's examples.\n\n"
              "Ctrl-C stops everything.", flush=True)  # fmt: skip
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


def staff_token(issuer: str, client: tuple[str, str]) -> str:
    """A token of the development staff client, from the token service, as an integrator gets one."""
    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.post(f"{issuer}/oauth2/token", data={"grant_type": "client_credentials"}, auth=client,
                                  timeout=10)  # fmt: skip
            response.raise_for_status()
            return str(response.json()["access_token"])
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
