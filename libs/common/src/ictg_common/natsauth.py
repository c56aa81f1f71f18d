"""Who may say what on the event bus: each service's NATS user and its permissions, as server config.

Each service connects as its own user and may publish only its own subjects (`<prefix>.<source>.>`:
intake, cases, webhooks; metrics publishes nothing), so an event on `ictg.cases.…` can only come
from the case API's credentials: NATS refuses anyone else's publish. (Consumers also check that an
event's `source` matches its subject: `ictg_common.consumer.authentic`.) What JetStream needs is
granted per service, and narrowly:

- the stream, by name: create it if missing (the first relay or consumer on a new server does), info,
  and update (to raise its replica count to ICTG_NATS_REPLICAS: `ictg_common.natslink.ensure_stream`;
  NATS cannot narrow an update to one field, so a service could also change the stream's other limits,
  as creating a missing stream already lets it choose them);
- its own durable consumers, by name: create, info, fetch (`CONSUMER.MSG.NEXT`) and ack
  (`$JS.ACK.<stream>.<durable>.>`), so no service reads, acks or reconfigures another's;
- replays (case API, metrics): a message by subject (`STREAM.MSG.GET`), ordered ephemeral consumers
  (`CONSUMER.CREATE.<stream>`, no name) and their flow control (`$JS.FC.<stream>.>`);
- replies on its own inbox only: it subscribes to `_INBOX.<user>.>` and nothing else (its client's
  inbox prefix is `_INBOX.<user>`; pull consumers and API replies are delivered there).

Nothing else: no purge or delete, no other stream, no core subscription to events.

A consumer created with a deliver subject republishes what it reads there, so a user allowed to
create consumers on one stream could feed another stream of the account: give the platform a NATS
account of its own, with the one stream (an ephemeral consumer of the stream cannot deliver into the
stream's own subjects: NATS refuses the cycle).

`render` writes the `authorization` block of nats-server's config. The embedded server of `make run`
and the tests runs with it (`ictg_common.devinfra.EmbeddedNats`: random passwords, and for the tests
a `tester` user that may do anything); deploy/nats/ictg.conf is the same block with the passwords read
from the server's environment (`python -m ictg_common.natsauth` prints it).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

STREAM = "ICTG"
PREFIX = "ictg"
TESTER = "tester"


@dataclass(frozen=True)
class Grant:
    """What one service's user may do: publish `source`'s subjects (None: nothing of its own), use its
    `durables`, and replay the stream (ephemeral ordered consumers)."""

    source: str | None
    durables: tuple[str, ...]
    replays: bool = False
    env_prefix: str = ""  # where the service reads its settings: ICTG_INTAKE_NATS_USER, …


# The services' users. The durables are the services' consumers (`Consumer(name=…)`): a consumer
# missing here is refused by NATS (the test suite shows it at once).
GRANTS: dict[str, Grant] = {
    "intake": Grant("intake", ("intake-case-status",), env_prefix="ICTG_INTAKE_"),
    "cases": Grant("cases", ("cases-referrals",), replays=True, env_prefix="ICTG_CASES_"),
    "metrics": Grant(None, ("metrics-all",), replays=True, env_prefix="ICTG_METRICS_"),
    "webhooks": Grant("webhooks", ("webhooks-all",), env_prefix="ICTG_WEBHOOKS_"),
}


@dataclass(frozen=True)
class NatsCredentials:
    """A NATS user and password (the service settings' `nats_user` / `nats_password`)."""

    user: str
    password: str

    def connect_options(self) -> dict[str, str]:
        """Keyword arguments of `nats.connect`: the user, and its own inbox prefix."""
        return {"user": self.user, "password": self.password, "inbox_prefix": inbox_prefix(self.user)}

    def settings(self) -> dict[str, str]:
        """Keyword arguments of a service's settings (`IntakeSettings(**credentials.settings())`)."""
        return {"nats_user": self.user, "nats_password": self.password}

    def env(self, service: str) -> dict[str, str]:
        """The environment that gives `service` (`intake`, …) these credentials (`ICTG_INTAKE_NATS_USER`, …)."""
        prefix = GRANTS[service].env_prefix
        return {f"{prefix}NATS_USER": self.user, f"{prefix}NATS_PASSWORD": self.password}


def inbox_prefix(user: str) -> str:
    """The inbox prefix of `user`'s connections: replies to it go to `_INBOX.<user>.…`, which only it
    may subscribe to."""
    return f"_INBOX.{user}"


def permissions(user: str, *, stream: str = STREAM, prefix: str = PREFIX) -> dict[str, list[str]]:
    """What service `user` may publish to and subscribe to. `stream` and `prefix` may be `*` (the
    tests' streams and subject prefixes, one per test)."""
    grant = GRANTS[user]
    api = "$JS.API"
    publish = [f"{prefix}.{grant.source}.>"] if grant.source else []
    publish += [f"{api}.STREAM.CREATE.{stream}", f"{api}.STREAM.INFO.{stream}", f"{api}.STREAM.UPDATE.{stream}"]
    for d in grant.durables:
        publish += [
            f"{api}.CONSUMER.DURABLE.CREATE.{stream}.{d}",
            f"{api}.CONSUMER.CREATE.{stream}.{d}",
            f"{api}.CONSUMER.CREATE.{stream}.{d}.>",
            f"{api}.CONSUMER.INFO.{stream}.{d}",
            f"{api}.CONSUMER.MSG.NEXT.{stream}.{d}",
            f"$JS.ACK.{stream}.{d}.>",
        ]
    if grant.replays:
        publish += [f"{api}.STREAM.MSG.GET.{stream}", f"{api}.CONSUMER.CREATE.{stream}", f"$JS.FC.{stream}.>"]
    return {"publish": publish, "subscribe": [f"{inbox_prefix(user)}.>"]}


def _strings(items: list[str], indent: str) -> str:
    return "[\n" + "".join(f"{indent}  {json.dumps(s)}\n" for s in items) + f"{indent}]"


def render(
    passwords: Mapping[str, str], *, stream: str = STREAM, prefix: str = PREFIX, tester: str | None = None
) -> str:
    """The `authorization` block of a nats-server config: one user per service in `passwords`, each
    with a password or `$NAME` (read from the server's environment), and, given its password,
    `tester`: a user that may do anything (the tests' own publishers; never in a deployment)."""
    out = ["authorization {", "  users: ["]
    for user, password in passwords.items():
        perms = permissions(user, stream=stream, prefix=prefix)
        secret = password if password.startswith("$") else json.dumps(password)
        out += [
            "    {",
            f"      user: {user}",
            f"      password: {secret}",
            "      permissions: {",
            f"        publish: {{allow: {_strings(perms['publish'], '        ')}}}",
            f"        subscribe: {{allow: {_strings(perms['subscribe'], '        ')}}}",
            "      }",
            "    }",
        ]
    if tester is not None:
        out.append(f"    {{user: {TESTER}, password: {json.dumps(tester)}}}")
    return "\n".join([*out, "  ]", "}", ""])


def deployed() -> str:
    """deploy/nats/ictg.conf: the services' users on stream ICTG and subjects `ictg.>`, each password
    read from the NATS server's environment under the name the service reads it
    (`$ICTG_INTAKE_NATS_PASSWORD`, …)."""
    header = (
        "# The platform's NATS users and what each may publish and subscribe to (ictg_common.natsauth;\n"
        "# regenerate with `python -m ictg_common.natsauth`). Each password is read from the server's\n"
        "# environment, under the name the service reads it by. Include it in the server's config.\n"
    )
    return header + render({user: f"${g.env_prefix}NATS_PASSWORD" for user, g in GRANTS.items()})


def new_password() -> str:
    """A random password (hex: it may be written into a nats:// URL as it is)."""
    return secrets.token_hex(24)


if __name__ == "__main__":
    print(deployed(), end="")
