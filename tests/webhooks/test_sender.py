"""One delivery attempt (`ictg_webhooks.sender`) to a real receiver: its outcomes (retry, gone, redirect,
timeout, oversized answer, refused target, connect failures), the checked address connected under its name."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import httpx
import pytest

from ictg_webhooks import sender as sender_module
from ictg_webhooks.sender import make_client, parse_retry_after, send
from ictg_webhooks.signing import new_secret
from ictg_webhooks.targets import Target
from tests.support.delivery_receiver import BODY, Receiver, client_fixture, deliver, receiver_fixture  # noqa: F401


async def test_503_with_retry_after_seconds(receiver: Receiver, client: httpx.AsyncClient) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"{receiver.base}/busy", secrets=[secret])
    assert outcome.status_code == 503 and outcome.retry_after == 7 and not outcome.ok and not outcome.gone


async def test_410_is_gone(receiver: Receiver, client: httpx.AsyncClient) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"{receiver.base}/gone", secrets=[secret])
    assert outcome.status_code == 410 and outcome.gone and not outcome.ok and outcome.retry_after is None


async def test_a_redirect_is_not_followed(receiver: Receiver, client: httpx.AsyncClient) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"{receiver.base}/redirect", secrets=[secret])
    assert outcome.status_code == 302 and not outcome.ok
    assert outcome.error is not None and "not followed" in outcome.error
    assert [r.path for r in receiver.received] == ["/redirect"]


async def test_a_hanging_receiver_times_out(receiver: Receiver, client: httpx.AsyncClient) -> None:
    receiver.secrets = [secret := new_secret()]
    started = time.monotonic()
    outcome = await deliver(client, f"{receiver.base}/hang", secrets=[secret], timeout=0.5)
    took = time.monotonic() - started
    assert outcome.status_code is None and outcome.error is not None and "timed out" in outcome.error
    assert 0.4 <= took < 1.2
    assert 400 <= outcome.latency_ms < 1200


async def test_no_more_than_64_kib_of_a_response_is_read(receiver: Receiver, client: httpx.AsyncClient) -> None:
    receiver.secrets = [secret := new_secret()]
    started = time.monotonic()
    outcome = await deliver(client, f"{receiver.base}/big", secrets=[secret], timeout=5)
    assert outcome.ok and time.monotonic() - started < 2


async def test_a_target_refused_at_send_time_is_an_error_outcome(receiver: Receiver, client: httpx.AsyncClient) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[secret], allow_private=False)
    assert outcome.status_code is None and not outcome.ok
    assert outcome.error is not None and outcome.error.startswith("target refused:") and "loopback" in outcome.error
    assert receiver.received == []
    metadata = await deliver(client, "http://169.254.169.254/latest/meta-data/", secrets=[secret])
    assert metadata.status_code is None and metadata.error is not None and "metadata" in metadata.error


async def test_connect_failures_and_bad_names_are_error_outcomes(client: httpx.AsyncClient) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = await deliver(client, f"http://127.0.0.1:{port}/x", secrets=[new_secret()])
    assert refused.status_code is None and refused.error is not None and refused.error.startswith("could not connect")
    unknown = await deliver(client, "https://no-such-host.invalid/x", secrets=[new_secret()])
    assert unknown.status_code is None and unknown.error is not None and "does not resolve" in unknown.error


async def test_a_name_is_sent_as_host_while_the_checked_address_is_connected(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    receiver.secrets = [secret := new_secret()]
    outcome = await deliver(client, f"http://localhost:{receiver.port}/ok", secrets=[secret])
    assert outcome.ok, outcome  # (if localhost is ::1 first, the next checked address, 127.0.0.1, is tried)
    assert receiver.received[0].host == f"localhost:{receiver.port}"


async def test_https_goes_to_the_checked_ip_with_the_real_name_for_sni(monkeypatch: pytest.MonkeyPatch) -> None:
    """The request URL carries the checked IP; Host and the TLS server name carry the original host."""
    seen: list[httpx.Request] = []

    async def fake_resolve(url: str, *, allow_private: bool) -> Target:
        assert url == "https://hooks.example.com/in?x=1"
        return Target("https", "hooks.example.com", 443, "/in?x=1", ("2606:4700::6810:84e5", "104.16.132.229"))

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(b"ok"))  # a stream, as from a real transport

    monkeypatch.setattr(sender_module, "resolve_target", fake_resolve)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=False) as mocked:
        outcome = await send(
            mocked, url="https://hooks.example.com/in?x=1", body=BODY, headers={"content-type": "application/json"},
            allow_private=False, timeout=2,
        )  # fmt: skip
    assert outcome.ok
    [request] = seen
    assert str(request.url) == "https://[2606:4700::6810:84e5]/in?x=1"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert request.content == BODY


async def test_make_client_does_not_follow_redirects_or_trust_the_environment() -> None:
    async with make_client() as made:
        assert made.follow_redirects is False
        assert made.trust_env is False


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
    receiver: Receiver, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.secrets = [secret := new_secret()]

    async def fake_resolve(url: str, *, allow_private: bool) -> Target:
        # the receiver listens on 127.0.0.1 only: ::1 is refused (or unreachable), then 127.0.0.1 answers
        return Target("http", "receiver.test", receiver.port, "/ok", ("::1", "127.0.0.1"))

    monkeypatch.setattr(sender_module, "resolve_target", fake_resolve)
    outcome = await deliver(client, f"http://receiver.test:{receiver.port}/ok", secrets=[secret])
    assert outcome.ok, outcome
    assert receiver.received[0].host == f"receiver.test:{receiver.port}"
