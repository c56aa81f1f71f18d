"""One delivery attempt (`ictg_webhooks.sender`) to a real receiver: its outcomes (retry, gone, redirect,
timeout, oversized answer, refused target, connect failures), the checked address connected under its name;
and the connection pool against a scripted raw receiver: keep-alive reuse, a connection closed by the receiver
while idle or as a request was sent, an oversized body, `Connection: close`, expiry, the bound, closing."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ictg_webhooks import sender as sender_module
from ictg_webhooks.sender import Pool, parse_retry_after
from ictg_webhooks.signing import new_secret
from ictg_webhooks.targets import Target
from tests.support.delivery_receiver import BODY, Receiver, client_fixture, deliver, receiver_fixture  # noqa: F401


async def test_503_with_retry_after_seconds(receiver: Receiver, client: Pool) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"{receiver.base}/busy", secrets=[secret])
    assert outcome.status_code == 503 and outcome.retry_after == 7 and not outcome.ok and not outcome.gone


async def test_410_is_gone(receiver: Receiver, client: Pool) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"{receiver.base}/gone", secrets=[secret])
    assert outcome.status_code == 410 and outcome.gone and not outcome.ok and outcome.retry_after is None


async def test_a_redirect_is_not_followed(receiver: Receiver, client: Pool) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"{receiver.base}/redirect", secrets=[secret])
    assert outcome.status_code == 302 and not outcome.ok
    assert outcome.error is not None and "not followed" in outcome.error
    assert [r.path for r in receiver.received] == ["/redirect"]


async def test_a_hanging_receiver_times_out(receiver: Receiver, client: Pool) -> None:
    receiver.secrets = [secret := new_secret()]
    started = time.monotonic()
    outcome = await deliver(client, f"{receiver.base}/hang", secrets=[secret], timeout=0.5)
    took = time.monotonic() - started
    assert outcome.status_code is None and outcome.error is not None and "timed out" in outcome.error
    assert 0.4 <= took < 3  # the 0.5 s timeout, with room for a loaded machine's late wake-up
    assert 400 <= outcome.latency_ms < 3000


async def test_no_more_than_64_kib_of_a_response_is_read(receiver: Receiver, client: Pool) -> None:
    receiver.secrets = [secret := new_secret()]
    started = time.monotonic()
    outcome = await deliver(client, f"{receiver.base}/big", secrets=[secret], timeout=15)
    assert outcome.ok and time.monotonic() - started < 5


async def test_a_target_refused_at_send_time_is_an_error_outcome(receiver: Receiver, client: Pool) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[secret], allow_private=False)
    assert outcome.status_code is None and not outcome.ok
    assert outcome.error is not None and outcome.error.startswith("target refused:") and "loopback" in outcome.error
    assert receiver.received == []
    metadata = await deliver(client, "http://169.254.169.254/latest/meta-data/", secrets=[secret])
    assert metadata.status_code is None and metadata.error is not None and "metadata" in metadata.error


async def test_connect_failures_and_bad_names_are_error_outcomes(client: Pool) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = await deliver(client, f"http://127.0.0.1:{port}/x", secrets=[new_secret()])
    assert refused.status_code is None and refused.error is not None and refused.error.startswith("could not connect")
    unknown = await deliver(client, "https://no-such-host.invalid/x", secrets=[new_secret()])
    assert unknown.status_code is None and unknown.error is not None and "does not resolve" in unknown.error


async def test_a_name_is_sent_as_host_while_the_checked_address_is_connected(receiver: Receiver, client: Pool) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"http://localhost:{receiver.port}/ok", secrets=[secret])
    assert outcome.ok, outcome  # (if localhost is ::1 first, the next checked address, 127.0.0.1, is tried)
    assert receiver.received[0].host == f"localhost:{receiver.port}"


async def test_https_goes_to_the_checked_ip_with_the_real_name_for_tls(
    receiver: Receiver, client: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection goes to the checked IP; Host and the TLS server name (verified) carry the original host.
    (The test's connection is plain: it is opened to the local receiver, whatever TLS was asked for.)"""
    receiver.secrets = [secret := new_secret()]
    opened: list[tuple[str, int, ssl.SSLContext | None, str | None]] = []

    async def fake_resolve(url: str, *, allow_private: bool) -> Target:
        assert url == "https://hooks.example.com/ok?x=1"
        return Target("https", "hooks.example.com", 443, "/ok?x=1", ("127.0.0.1",))

    async def fake_open(
        host: str, port: int, *, ssl: ssl.SSLContext | None, server_hostname: str | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        opened.append((host, port, ssl, server_hostname))
        return await asyncio.open_connection(host, receiver.port)

    monkeypatch.setattr(sender_module, "resolve_target", fake_resolve)
    monkeypatch.setattr(sender_module, "_open_connection", fake_open)
    outcome = await deliver(client, "https://hooks.example.com/ok?x=1", secrets=[secret])
    assert outcome.ok, outcome
    [(host, port, context, server_hostname)] = opened
    assert (host, port, server_hostname) == ("127.0.0.1", 443, "hooks.example.com")
    assert context is not None and context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    [received] = receiver.received
    assert received.host == "hooks.example.com" and received.path == "/ok" and received.verified


def test_the_pool_verifies_certificates() -> None:
    context = Pool(1).ssl
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # a CA bundle is loaded


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Wed, 02 Dec 2026 12:00:30 GMT", 30.0),
        ("Wed, 02 Dec 2026 11:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == seconds


async def test_the_next_checked_address_is_tried_when_one_cannot_be_connected(
    receiver: Receiver, client: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.secrets = [secret := new_secret()]

    async def fake_resolve(url: str, *, allow_private: bool) -> Target:
        # the receiver listens on 127.0.0.1 only: ::1 is refused (or unreachable), then 127.0.0.1 answers
        return Target("http", "receiver.test", receiver.port, "/ok", ("::1", "127.0.0.1"))

    monkeypatch.setattr(sender_module, "resolve_target", fake_resolve)
    outcome = await deliver(client, f"http://receiver.test:{receiver.port}/ok", secrets=[secret])
    assert outcome.ok, outcome
    assert receiver.received[0].host == f"receiver.test:{receiver.port}"


NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


@dataclass
class Raw:
    """A scripted HTTP/1.1 receiver: what it saw, per connection and in all."""

    port: int = 0
    accepted: int = 0  # connections
    requests: int = 0
    closed_by_sender: int = 0  # connections the sender closed (EOF or reset seen while reading)


@contextlib.asynccontextmanager
async def raw_receiver(
    answer: Callable[[int], tuple[bytes | None, bool]], *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Raw]:
    """`answer(n)` for the n-th request on a connection (from 1): (the bytes to answer, or None for none; whether
    the connection stays open afterwards)."""
    state = Raw()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.accepted += 1
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                n += 1
                state.requests += 1
                reply, keep_open = answer(n)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
                if not keep_open:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            state.closed_by_sender += 1
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_keep_alive_connection_is_reused_and_closed_with_the_pool() -> None:
    async with raw_receiver(lambda n: (NO_CONTENT, True)) as raw:
        pool = Pool(4)
        for _ in range(5):
            outcome = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()])
            assert outcome.ok, outcome
        assert (raw.accepted, raw.requests, pool.opened) == (1, 5, 1)
        await pool.aclose()
        await until(lambda: raw.closed_by_sender == 1)


async def test_a_connection_the_receiver_closed_while_idle_is_not_reused_nor_an_error() -> None:
    async with raw_receiver(lambda n: (NO_CONTENT, False)) as raw, Pool(4) as pool:
        for _ in range(3):
            outcome = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()])
            assert outcome.ok, outcome
            await asyncio.sleep(0.05)  # the receiver's close arrives while the connection is idle
        assert (raw.accepted, raw.requests) == (3, 3)


async def test_a_connection_the_receiver_closed_is_closed_here_too_with_no_further_delivery() -> None:
    """Left to the next delivery to its receiver, it would sit in CLOSE_WAIT on a quiet service for hours."""
    hang_up = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        writer.write(NO_CONTENT)
        await writer.drain()
        await hang_up.wait()  # the receiver closes the connection once it is idle
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Pool(4) as pool:
            assert (await deliver(pool, f"http://127.0.0.1:{port}/in", secrets=[new_secret()])).ok
            [conn] = [c for conns in pool.idle.values() for c in conns]
            hang_up.set()
            async with asyncio.timeout(5):  # swept every second
                while pool.open:
                    await asyncio.sleep(0.05)
            assert conn.writer.is_closing() and not pool.idle
    finally:
        server.close()


async def test_bytes_a_receiver_sends_on_an_idle_connection_are_never_taken_for_the_next_answer() -> None:
    # a 204, then on the idle connection an unsolicited 408 (as servers timing out a keep-alive connection
    # send) and nothing more; and a 204 with bytes past its end: neither connection is reused
    late_408 = NO_CONTENT
    extra = NO_CONTENT + b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
    for first_answer, gap in ((late_408, True), (extra, False)):

        def answer(n: int, first_answer: bytes = first_answer) -> tuple[bytes | None, bool]:
            return (first_answer, True) if n == 1 else (NO_CONTENT, True)

        async with raw_receiver(answer) as raw, Pool(4) as pool:
            first = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()])
            assert first.ok, first
            if gap:
                [conn] = [c for conns in pool.idle.values() for c in conns]
                conn.reader.feed_data(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
            second = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()])
            assert (second.status_code, pool.opened, raw.accepted) == (204, 2, 2), second


async def test_a_reused_connection_closed_as_the_request_was_sent_is_resent_once_on_a_fresh_one() -> None:
    # the receiver answers a connection's first request and drops the second unanswered (as a server timing
    # out an idle connection just as a request arrives would)
    async with raw_receiver(lambda n: (NO_CONTENT, True) if n == 1 else (None, False)) as raw, Pool(4) as pool:
        first = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()])
        second = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()])
        assert first.ok and second.ok, second
        assert (raw.accepted, raw.requests) == (2, 3)


async def test_a_fresh_connection_closed_without_an_answer_is_an_error_and_not_resent() -> None:
    async with raw_receiver(lambda n: (None, False)) as raw, Pool(4) as pool:
        outcome = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()])
        assert outcome.status_code is None and outcome.error, outcome
        assert (raw.accepted, raw.requests) == (1, 1)


async def test_a_body_over_the_cap_closes_the_connection() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + b"x" * (128 * 1024)  # the rest never comes
    async with raw_receiver(lambda n: (big, True)) as raw, Pool(4) as pool:
        first = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()], timeout=2)
        assert first.ok, first
        await until(lambda: raw.closed_by_sender == 1)
        second = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()], timeout=2)
        assert second.ok and raw.accepted == 2


async def test_connection_close_from_the_receiver_is_honoured() -> None:
    close = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    async with raw_receiver(lambda n: (close, True)) as raw, Pool(4) as pool:
        for _ in range(2):
            outcome = await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()])
            assert outcome.ok, outcome
        assert (raw.accepted, raw.requests) == (2, 2)
        await until(lambda: raw.closed_by_sender == 2)


async def test_idle_connections_expire() -> None:
    async with raw_receiver(lambda n: (NO_CONTENT, True)) as raw, Pool(4, keepalive_expiry=0.05) as pool:
        for _ in range(2):
            assert (await deliver(pool, f"http://127.0.0.1:{raw.port}/in", secrets=[new_secret()])).ok
            await asyncio.sleep(0.1)
        assert raw.accepted == 2
        await until(lambda: raw.closed_by_sender >= 1)


async def test_the_pool_holds_at_most_its_bound_of_connections() -> None:
    async with (
        raw_receiver(lambda n: (NO_CONTENT, True)) as one,
        raw_receiver(lambda n: (NO_CONTENT, True)) as other,
        Pool(1) as pool,
    ):
        assert (await deliver(pool, f"http://127.0.0.1:{one.port}/in", secrets=[new_secret()])).ok
        assert (await deliver(pool, f"http://127.0.0.1:{other.port}/in", secrets=[new_secret()])).ok
        assert len(pool.open) == 1
        await until(lambda: one.closed_by_sender == 1)  # the idle one made room
        outcomes = await asyncio.gather(
            *(deliver(pool, f"http://127.0.0.1:{other.port}/in", secrets=[new_secret()]) for _ in range(5))
        )
        assert all(o.ok for o in outcomes) and other.accepted == 1 and len(pool.open) == 1


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server TLS context with a self-signed certificate for 127.0.0.1 (no CA the sender trusts)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


async def test_a_certificate_no_trusted_ca_signed_is_refused(tmp_path: Path) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(NO_CONTENT)  # never reached: the handshake fails first
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=self_signed(tmp_path))
    port = server.sockets[0].getsockname()[1]
    try:
        async with Pool(1) as pool:
            outcome = await deliver(pool, f"https://127.0.0.1:{port}/in", secrets=[new_secret()])
    finally:
        server.close()
    assert outcome.status_code is None and outcome.error is not None
    assert outcome.error.startswith("could not connect") and "CERTIFICATE_VERIFY_FAILED" in outcome.error, outcome


async def test_tls_is_verified_under_the_subscriptions_host_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the test certificate trusted: the name it was issued for is accepted, another name pinned to the
    same address is refused (the name is verified, not the address connected to)."""
    server_context = self_signed(tmp_path)
    host = {"name": "127.0.0.1"}

    async def fake_resolve(url: str, *, allow_private: bool) -> Target:
        return Target("https", host["name"], raw.port, "/in", ("127.0.0.1",))

    monkeypatch.setattr(sender_module, "resolve_target", fake_resolve)
    async with raw_receiver(lambda n: (NO_CONTENT, True), tls=server_context) as raw, Pool(2) as pool:
        pool.ssl = ssl.create_default_context(cafile=tmp_path / "cert.pem")
        good = await deliver(pool, "https://127.0.0.1/in", secrets=[new_secret()])
        assert good.ok, good
        host["name"] = "hooks.example.com"
        wrong = await deliver(pool, "https://hooks.example.com/in", secrets=[new_secret()])
        assert wrong.status_code is None and wrong.error is not None, wrong
        assert wrong.error.startswith("could not connect") and "CERTIFICATE_VERIFY_FAILED" in wrong.error, wrong
