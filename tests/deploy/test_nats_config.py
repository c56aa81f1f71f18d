"""The NATS configuration the deployments ship (deploy/nats/ictg.conf: compose mounts it, the
Kubernetes ConfigMap carries it) is the one `ictg_common.natsauth` writes, and a real nats-server
started on it, with the passwords in its environment as compose gives them, refuses a service a
subject that is not its own."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest
import yaml

from ictg_common.devinfra import EmbeddedNats, free_port, port_open
from ictg_common.natsauth import GRANTS, NatsCredentials, deployed

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nats" / "ictg.conf"
PASSWORDS = {f"{g.env_prefix}NATS_PASSWORD": f"pw-{user}" for user, g in GRANTS.items()}


def test_the_shipped_config_is_natsauths() -> None:
    assert CONF.read_text() == deployed(), "stale: python -m ictg_common.natsauth > deploy/nats/ictg.conf"
    docs = [
        doc for path in sorted((ROOT / "deploy" / "k8s").glob("*.y*ml")) for doc in yaml.safe_load_all(path.read_text())
    ]
    [auth] = [d for d in docs if d and d["kind"] == "ConfigMap" and d["metadata"]["name"] == "ictg-nats-auth"]
    assert auth["data"]["ictg.conf"] == deployed()
    nats_service = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]["nats"]
    assert "./nats/ictg.conf:/etc/nats/ictg.conf:ro" in nats_service["volumes"]
    assert nats_service["command"][:2] == ["-c", "/etc/nats/ictg.conf"]
    assert set(nats_service["environment"]) == set(PASSWORDS)  # every password the config reads


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("nats")
    port = free_port()
    proc = subprocess.Popen(
        [EmbeddedNats.binary(), "-c", str(CONF), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(root)],
        env={**os.environ, **PASSWORDS}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_config_needs_every_password_in_the_servers_environment() -> None:
    env = {k: v for k, v in os.environ.items() if k not in PASSWORDS}
    done = subprocess.run([EmbeddedNats.binary(), "-t", "-c", str(CONF)], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "ICTG_INTAKE_NATS_PASSWORD" in done.stdout + done.stderr


async def test_a_real_server_on_it_lets_intake_publish_its_own_events_only(server: str) -> None:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    intake = NatsCredentials("intake", "pw-intake")
    nc = await nats.connect(server, **intake.connect_options(), error_cb=on_error, max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=2)
        await js.add_stream(name="ICTG", subjects=["ictg.>"])  # as its relay does on a new server
        assert (await js.publish("ictg.intake.referral.received", b"{}")).seq == 1
        with pytest.raises(nats.errors.TimeoutError):
            await js.publish("ictg.cases.case.exited", b"{}", timeout=1)
        assert any('permissions violation for publish to "ictg.cases.case.exited"' in e for e in errors), errors
        with pytest.raises(nats.errors.TimeoutError):  # nor a stream of its own
            await js.add_stream(name="OTHER", subjects=["other.>"])
    finally:
        await nc.close()
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(server, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)
