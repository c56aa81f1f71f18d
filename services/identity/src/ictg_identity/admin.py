"""Registering clients from the command line, against `ICTG_DATABASE_URL`: the first staff client
(`clients:admin`, which then registers the others through `/v1/clients`), and `make run`'s
development clients.

    python -m ictg_identity.admin register --name "Operations" --org-type ictg --org-name "ICTG service" \\
        --scope clients:admin
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass

from ictg_common.auth import SCOPES
from ictg_common.db import create_engine, create_sessionmaker
from ictg_common.reference import REGION_SLUGS

from .clients import service
from .clients.schemas import ClientIn


@dataclass(frozen=True)
class DevClient:
    """A development client: its fixed id, the shell variables `make run` writes, its registration."""

    client_id: str
    var: str
    body: ClientIn


def staff(name: str, scopes: list[str], service: str | None = None) -> ClientIn:
    """A client of the ICTG service's own (every region)."""
    return ClientIn(name=name, org_type="ictg", org_name="ICTG service", scopes=scopes, regions=list(REGION_SLUGS),
                    service=service)  # fmt: skip


DEV_CLIENTS = (
    DevClient("dev-police", "POLICE", ClientIn(name="Greater Manchester Police referrals system", org_type="police",
              org_name="Greater Manchester Police", scopes=["referrals:write", "webhooks:manage", "metrics:read"])),
    DevClient("dev-council", "COUNCIL", ClientIn(name="Manchester and Salford children's services",
              org_type="local_authority", org_name="Manchester and Salford", la_codes=["E08000003", "E08000006"],
              scopes=["la:read", "la:write", "webhooks:manage", "metrics:read"])),
    DevClient("dev-analyst", "ANALYST", staff("ICTG analysts' notebooks", ["metrics:read", "metrics:query"])),
    DevClient("dev-staff", "STAFF", staff("ICTG service staff (development)", list(SCOPES))),
    DevClient("service-case-api", "CASES_CLIENT", staff("case API (claim check)", ["referrals:read"], "case-api")),
    DevClient("service-metrics", "METRICS_CLIENT", staff("metrics (reconciliation)", ["cases:read"], "metrics")),
)  # fmt: skip


async def register_dev_clients(database_url: str) -> dict[str, tuple[str, str]]:
    """Register (again) the development clients, each with a fresh secret: {var: (id, secret)}."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            found = {}
            for dev in DEV_CLIENTS:
                service.check_registration(dev.body)
                await service.register(session, dev.client_id, dev.body, by="make run")
                found[dev.var] = (dev.client_id, await service.set_secret(session, dev.client_id, overlap=None))
            return found
    finally:
        await engine.dispose()


async def _register(args: argparse.Namespace) -> dict[str, object]:
    from .settings import IdentitySettings

    body = ClientIn(name=args.name, org_type=args.org_type, org_name=args.org_name, scopes=args.scope,
                    regions=args.region or [], la_codes=args.la_code or [], service=args.service)  # fmt: skip
    engine = create_engine(IdentitySettings().database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            shown = await service.create(session, body, by="command line")
            return {
                "client_id": shown.client.client_id,
                "client_secret": shown.new_secret,
                "scopes": shown.client.scopes,
            }
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ictg_identity.admin", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="register a client; prints its id and secret (shown once)")
    reg.add_argument("--name", required=True)
    reg.add_argument("--org-type", required=True)
    reg.add_argument("--org-name", required=True)
    reg.add_argument("--scope", action="append", required=True, help="repeat for several")
    reg.add_argument("--region", action="append")
    reg.add_argument("--la-code", action="append")
    reg.add_argument("--service", help="a platform service's name (staff only)")
    args = parser.parse_args(argv)
    from pydantic import ValidationError

    from ictg_common.errors import ValidationFailed

    try:
        print(json.dumps(asyncio.run(_register(args)), indent=2))
    except ValidationFailed as exc:
        parser.error("; ".join(f"{e['pointer']}: {e['detail']}" for e in exc.errors or []) or exc.detail)
    except ValidationError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
