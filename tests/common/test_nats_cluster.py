"""The NATS cluster mode: three embedded nats-servers clustered on loopback, the stream and the
durables on as many servers as ICTG_NATS_REPLICAS says, and a service's link that outlives its server.

- The stream a service creates on the cluster is on three servers, and its durable on as many.
- A stream made on one server (by an older version, or before the setting) is raised to three, its
  durable with it; one on more servers than asked is left as it is.
- NATS with fewer servers than asked makes no stream: the link says so and is not ready; an existing
  stream that cannot be raised is used as it is.
- A service's link, its server killed, publishes through another, with the credentials it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import StreamConfig, StreamInfo

from ictg_common.consumer import Consumer, ConsumerRunner
from ictg_common.devinfra import EmbeddedNatsCluster, Infra
from ictg_common.natslink import NatsLink, StreamPlacementError, servers
from ictg_common.settings import ServiceSettings
from tests.support.platform import ROOT, eventually

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedNatsCluster]:
    root = ROOT / ".run" / f"nats-cluster-test-{uuid.uuid4().hex[:8]}"
    running = EmbeddedNatsCluster(root, size=3, tester=True)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def tester(cluster: EmbeddedNatsCluster) -> AsyncIterator[JetStreamContext]:
    """The tests' own user on the cluster, once its servers have elected a JetStream leader."""
    for node in cluster.nodes:  # a test before this one may have killed one
        if not node.alive:
            node.start()
    nc = await nats.connect(servers(cluster.as_tester()), max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream(timeout=5)

    async def ready() -> bool:
        with contextlib.suppress(Exception):
            await js.account_info()
            return True
        return False

    await eventually(ready, timeout=60, interval=0.5)
    try:
        yield js
    finally:
        await nc.close()


@pytest.fixture
def names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"C{tag}", f"c{tag}"


async def _link(cluster: EmbeddedNatsCluster, names: tuple[str, str], replicas: int, user: str = "intake") -> NatsLink:
    link = NatsLink(
        cluster.url(), stream=names[0], subject_prefix=names[1], credentials=cluster.credentials(user),
        replicas=replicas,
    )  # fmt: skip
    link.start()
    return link


def _servers_of(info: Any) -> set[str]:
    """The servers holding a stream or consumer: its leader and its replicas."""
    assert info.cluster is not None
    return {str(info.cluster.leader), *(p.name for p in info.cluster.replicas or [])}


async def _durable(cluster: EmbeddedNatsCluster, names: tuple[str, str], link: NatsLink) -> ConsumerRunner:
    """The case API's durable, created as its runner creates it (no replica count of its own)."""
    consumer = Consumer(name="cases-referrals", filter_subjects=[f"{names[1]}.intake.>"], handler=_never, schema="x",
                        max_deliver=3)  # fmt: skip
    runner = ConsumerRunner(consumer, link=link, sessionmaker=None)  # type: ignore[arg-type]  # nothing is handled
    runner.start()
    return runner


async def _never(*_: Any) -> None:
    raise AssertionError("no event is published in these tests")


async def _stream_on(js: JetStreamContext, name: str, count: int) -> StreamInfo | None:
    """The stream once it is on `count` servers, or None if it is not within 30 s.

    A stream just made or raised has its leader and every replica listed only once they have been
    elected and reported in (on a loaded machine, a few seconds), so this waits rather than reads once.
    """

    async def placed() -> StreamInfo | None:
        try:
            info = await js.stream_info(name)
        except nats.errors.Error:  # no leader yet: the request times out or is refused
            return None
        if info.config.num_replicas != count or info.cluster is None or info.cluster.leader is None:
            return None
        return info if len(_servers_of(info)) == count else None

    return await eventually(placed, timeout=30, interval=0.2)


async def _first_publish(js: JetStreamContext, subject: str) -> int:
    """Publish once the stream takes writes (its leader elected; a few seconds on a loaded machine): the
    sequence it was given. Retried with the same message id, so the stream keeps it once."""
    msg_id = uuid.uuid4().hex

    async def published() -> int | None:
        with contextlib.suppress(nats.errors.Error):
            return (await js.publish(subject, b"{}", timeout=5, headers={"Nats-Msg-Id": msg_id})).seq
        return None

    return int(await eventually(published, timeout=30, interval=0.2))


def test_the_settings_take_every_server_of_a_cluster_and_a_replica_count() -> None:
    settings = ServiceSettings(nats_url="nats://a:4222, nats://b:4222,nats://c:4222", nats_replicas=3)
    assert servers(settings.nats_url) == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert ServiceSettings().nats_replicas == 1
    with pytest.raises(ValueError, match="nats_replicas"):
        ServiceSettings(nats_replicas=0)


def test_the_development_infrastructure_starts_a_cluster_of_three(cluster: EmbeddedNatsCluster) -> None:
    urls = servers(cluster.url())
    assert len(urls) == 3 and len(set(urls)) == 3 and all(node.alive for node in cluster.nodes)
    stores = {node.root / "jetstream" for node in cluster.nodes}
    assert len(stores) == 3
    # One server by default (`make run`); the cluster when asked.
    assert not isinstance(Infra(ROOT / ".run" / "unused", database_url="x", nats_url=None).nats, EmbeddedNatsCluster)
    three = Infra(ROOT / ".run" / "unused", database_url="x", nats_url=None, nats_cluster=3).nats
    assert isinstance(three, EmbeddedNatsCluster) and len(three.nodes) == 3


async def test_the_stream_a_service_creates_on_the_cluster_is_on_three_servers_and_its_durable_too(
    cluster: EmbeddedNatsCluster, tester: JetStreamContext, names: tuple[str, str]
) -> None:
    link = await _link(cluster, names, replicas=3)
    cases = await _link(cluster, names, replicas=3, user="cases")
    runner = await _durable(cluster, names, cases)
    try:
        await asyncio.wait_for(link.jetstream(), 60)
        info = await _stream_on(tester, names[0], 3)
        assert info is not None and _servers_of(info) == {"node-0", "node-1", "node-2"}

        async def durable() -> Any:
            with contextlib.suppress(Exception):
                found = await tester.consumer_info(names[0], "cases-referrals")
                return found if len(_servers_of(found)) == 3 else None

        assert await eventually(durable, timeout=30, interval=0.2)
        # A second service's link finds the stream as it should be and leaves it alone.
        assert (await tester.stream_info(names[0])).config.num_replicas == 3
    finally:
        await runner.stop()
        await cases.close()
        await link.close()
        await tester.delete_stream(names[0])


async def test_a_stream_on_one_server_is_raised_to_three_and_its_durable_follows(
    cluster: EmbeddedNatsCluster, tester: JetStreamContext, names: tuple[str, str]
) -> None:
    await tester.add_stream(StreamConfig(name=names[0], subjects=[f"{names[1]}.>"], duplicate_window=120.0))
    old = await _link(cluster, names, replicas=1, user="cases")
    runner = await _durable(cluster, names, old)
    try:

        async def durable_on(count: int) -> Any:
            with contextlib.suppress(Exception):
                found = await tester.consumer_info(names[0], "cases-referrals")
                return found if len(_servers_of(found)) == count else None

        assert await eventually(lambda: durable_on(1), timeout=30, interval=0.2)
        await tester.publish(f"{names[1]}.intake.kept", b"{}")
        assert await _stream_on(tester, names[0], 1)

        link = await _link(cluster, names, replicas=3)
        try:
            await asyncio.wait_for(link.jetstream(), 60)
        finally:
            await link.close()
        assert await _stream_on(tester, names[0], 3)
        assert await eventually(lambda: durable_on(3), timeout=30, interval=0.2)
        info = await tester.stream_info(names[0])
        assert info.state.messages == 1 and info.config.duplicate_window == 120.0  # its events and settings kept
    finally:
        await runner.stop()
        await old.close()
        await tester.delete_stream(names[0])


async def test_a_stream_on_more_servers_than_asked_is_left_as_it_is(
    cluster: EmbeddedNatsCluster, tester: JetStreamContext, names: tuple[str, str]
) -> None:
    await tester.add_stream(StreamConfig(name=names[0], subjects=[f"{names[1]}.>"], num_replicas=3))
    link = await _link(cluster, names, replicas=1)
    try:
        await asyncio.wait_for(link.jetstream(), 60)
        assert await _stream_on(tester, names[0], 3)
    finally:
        await link.close()
        await tester.delete_stream(names[0])


async def test_nats_with_fewer_servers_than_asked_makes_no_stream_and_the_service_is_not_ready(
    cluster: EmbeddedNatsCluster, tester: JetStreamContext, names: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    link = await _link(cluster, names, replicas=5)
    try:
        with pytest.raises(StreamPlacementError, match="on 5 servers"):
            nc = await nats.connect(servers(cluster.url()), **cluster.credentials("intake").connect_options())
            try:
                await link.ensure_stream(nc.jetstream(timeout=5))
            finally:
                await nc.close()
        await asyncio.sleep(1)
        assert not link.connected  # /readyz says not ready
        with pytest.raises(nats.js.errors.NotFoundError):
            await tester.stream_info(names[0])
        assert any("cannot place the stream" in r.getMessage() for r in caplog.records)
    finally:
        await link.close()


async def test_an_existing_stream_that_cannot_be_raised_is_used_as_it_is(
    cluster: EmbeddedNatsCluster, tester: JetStreamContext, names: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    await tester.add_stream(StreamConfig(name=names[0], subjects=[f"{names[1]}.>"]))
    link = await _link(cluster, names, replicas=5)
    try:
        js = await asyncio.wait_for(link.jetstream(), 60)
        assert await _first_publish(js, f"{names[1]}.intake.still") == 1
        assert await _stream_on(tester, names[0], 1)
        assert any("fewer servers than configured" in r.getMessage() for r in caplog.records)
    finally:
        await link.close()
        await tester.delete_stream(names[0])


async def test_a_lone_server_refuses_a_stream_on_three(infra: Infra, names: tuple[str, str]) -> None:
    """The embedded server of `make run` (one), with ICTG_NATS_REPLICAS=3 set by mistake."""
    if infra.nats is None or isinstance(infra.nats, EmbeddedNatsCluster):
        pytest.skip("the session's NATS is not one embedded server")
    link = NatsLink(infra.nats_url, stream=names[0], subject_prefix=names[1],
                    credentials=infra.nats.credentials("intake"), replicas=3)  # fmt: skip
    nc = await nats.connect(infra.nats_url, **infra.nats.credentials("intake").connect_options())
    try:
        with pytest.raises(StreamPlacementError, match="non-clustered"):
            await link.ensure_stream(nc.jetstream(timeout=5))
    finally:
        await nc.close()


async def test_a_services_link_outlives_its_server(
    cluster: EmbeddedNatsCluster, tester: JetStreamContext, names: tuple[str, str]
) -> None:
    link = await _link(cluster, names, replicas=3)
    try:
        js = await asyncio.wait_for(link.jetstream(), 60)
        assert await _first_publish(js, f"{names[1]}.intake.before") == 1
        nc = link._nc
        assert nc is not None and nc.connected_url is not None
        [mine] = [node for node in cluster.nodes if node.port == nc.connected_url.port]
        mine.kill()

        async def published() -> int:
            with contextlib.suppress(Exception):
                return (await js.publish(f"{names[1]}.intake.after", b"{}", timeout=2)).seq
            return 0

        assert await eventually(published, timeout=60, interval=0.2) >= 2
        assert link.connected and nc.connected_url is not None and nc.connected_url.port != mine.port
        info = await tester.stream_info(names[0])
        assert info.state.messages >= 2
    finally:
        await link.close()
        for node in cluster.nodes:
            if not node.alive:
                node.start()
        with contextlib.suppress(Exception):
            await tester.delete_stream(names[0])
