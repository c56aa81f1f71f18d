"""Webhook delivery parts: Standard Webhooks signing, SSRF checks of targets, one delivery attempt.

Deliveries go to a real HTTP server (uvicorn serving a Starlette app on a free local port) that verifies every
request with `standardwebhooks.Webhook(secret).verify`, as a receiver would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ictg_common.contracts import MODELS, CaseEventData, ReferralReceived
from ictg_webhooks import sender as sender_module
from ictg_webhooks.routing import AUTHORITIES
from ictg_webhooks.sender import Outcome, make_client, parse_retry_after, send
from ictg_webhooks.signing import headers, new_secret, signature_header
from ictg_webhooks.targets import Target, TargetRefused, address_problem, resolve_target, url_problem

BODY = json.dumps({"type": "ictg.case.opened.v1", "id": "evt_1", "data": {"case_id": "c_1"}}).encode()


@dataclass
class Received:
    path: str
    host: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    error: str | None


@dataclass
class Receiver:
    base: str  # http://127.0.0.1:<port>
    port: int
    secrets: list[str] = field(default_factory=list)  # the secrets this receiver holds
    received: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # lets /hang answer

    def verify(self, body: bytes, request_headers: dict[str, str]) -> str | None:
        """None if one of the held secrets verifies the request, else the package's complaint."""
        error = "the receiver holds no secret"
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, request_headers)
                return None
            except WebhookVerificationError as exc:
                error = str(exc)
        return error


def receiving_app(receiver: Receiver) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        request_headers = dict(request.headers)
        error = receiver.verify(body, request_headers)
        path = request.url.path
        receiver.received.append(Received(path, request.headers["host"], request_headers, body, error is None, error))
        if error is not None:
            return Response(error, status_code=401)
        if path == "/busy":
            return Response("busy", status_code=503, headers={"Retry-After": "7"})
        if path == "/gone":
            return Response(status_code=410)
        if path == "/redirect":
            return Response(status_code=302, headers={"Location": f"{receiver.base}/ok"})
        if path == "/hang":
            await receiver.release.wait()
        if path == "/big":

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(1024):  # 64 MiB, far more than the sender reads
                    yield b"x" * 65536

            return StreamingResponse(chunks(), status_code=200)
        return Response(status_code=204)

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    state = Receiver(base=f"http://127.0.0.1:{port}", port=port)
    config = uvicorn.Config(receiving_app(state), lifespan="off", log_level="warning", http="h11")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        assert not task.done(), "the receiver stopped at start"
        assert time.monotonic() < deadline, "the receiver did not start"
        await asyncio.sleep(0.01)
    try:
        yield state
    finally:
        state.release.set()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as http:
        yield http


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    *,
    secrets: list[str],
    body: bytes = BODY,
    signed_body: bytes | None = None,
    at: datetime | None = None,
    timeout: float = 5.0,
    allow_private: bool = True,
) -> Outcome:
    signed = headers(
        secrets, msg_id="evt_1", timestamp=at or datetime.now(UTC), body=body if signed_body is None else signed_body
    )
    return await send(client, url=url, body=body, headers=signed, allow_private=allow_private, timeout=timeout)


# --- signing ---------------------------------------------------------------------------------------------------


def test_a_new_secret_is_whsec_and_32_random_bytes_the_package_accepts() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert secret != new_secret()
    Webhook(secret)  # accepted


def test_headers_carry_id_integer_timestamp_one_signature_per_secret_and_json() -> None:
    old, new = new_secret(), new_secret()
    at = datetime(2026, 12, 2, 12, 0, 0, 900_000, tzinfo=UTC)
    made = headers([old, new], msg_id="evt_9", timestamp=at, body=BODY)
    assert made["webhook-id"] == "evt_9"
    assert made["webhook-timestamp"] == str(int(at.timestamp()))  # integer seconds, rounded down
    assert made["content-type"] == "application/json"
    parts = made["webhook-signature"].split(" ")
    assert len(parts) == 2 and all(part.startswith("v1,") for part in parts)
    assert parts[0] == Webhook(old).sign(msg_id="evt_9", timestamp=at, data=BODY.decode())
    # the same instant in another time zone signs the same (the package itself would not convert it)
    same = at.astimezone(timezone(timedelta(hours=2)))
    assert signature_header([old, new], msg_id="evt_9", timestamp=same, body=BODY) == made["webhook-signature"]
    assert signature_header([old, old], msg_id="evt_9", timestamp=at, body=BODY) == parts[0]
    with pytest.raises(ValueError, match="at least one secret"):
        signature_header([], msg_id="evt_9", timestamp=at, body=BODY)


# --- delivery to a verifying receiver --------------------------------------------------------------------------


async def test_a_signed_delivery_verifies_at_the_receiver(receiver: Receiver, client: httpx.AsyncClient) -> None:
    secret = new_secret()
    receiver.secrets = [secret]
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[secret])
    assert outcome.ok and outcome.status_code == 204 and outcome.error is None and not outcome.gone
    assert outcome.latency_ms >= 0
    [got] = receiver.received
    assert got.verified and got.body == BODY
    assert got.headers["content-type"] == "application/json"
    assert got.host == f"127.0.0.1:{receiver.port}"


async def test_a_tampered_body_fails_verification(receiver: Receiver, client: httpx.AsyncClient) -> None:
    secret = new_secret()
    receiver.secrets = [secret]
    tampered = BODY.replace(b"c_1", b"c_2")
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[secret], body=tampered, signed_body=BODY)
    assert outcome.status_code == 401 and not outcome.ok
    [got] = receiver.received
    assert not got.verified and got.error == "No matching signature found"


async def test_a_timestamp_older_than_the_package_tolerance_fails(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    secret = new_secret()
    receiver.secrets = [secret]
    outcome = await deliver(
        client, f"{receiver.base}/ok", secrets=[secret], at=datetime.now(UTC) - timedelta(minutes=6)
    )
    assert outcome.status_code == 401
    assert receiver.received[0].error == "Message timestamp too old"
    fresh = await deliver(client, f"{receiver.base}/ok", secrets=[secret], at=datetime.now(UTC) - timedelta(minutes=4))
    assert fresh.ok


async def test_a_wrong_secret_fails_verification(receiver: Receiver, client: httpx.AsyncClient) -> None:
    receiver.secrets = [new_secret()]
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[new_secret()])
    assert outcome.status_code == 401
    assert receiver.received[0].error == "No matching signature found"


@pytest.mark.parametrize("held", ["old", "new"])
async def test_during_rotation_both_secrets_sign_and_either_verifies(
    receiver: Receiver, client: httpx.AsyncClient, held: str
) -> None:
    old, new = new_secret(), new_secret()
    receiver.secrets = [old if held == "old" else new]
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[old, new])
    assert outcome.ok, outcome
    [got] = receiver.received
    assert got.verified
    assert len(got.headers["webhook-signature"].split(" ")) == 2


# --- targets ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/", "http://10.1.2.3/"])
async def test_loopback_and_private_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(TargetRefused, match="private targets are not allowed"):
        await resolve_target(url, allow_private=False)
    target = await resolve_target(url, allow_private=True)
    assert target.addresses


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "IPv4-mapped form of 169.254.169.254"),
        ("http://[::ffff:0:a9fe:a9fe]/", "IPv4-translated form of 169.254.169.254"),  # ::ffff:0:0:0/96
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://255.255.255.255/", "reserved"),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
async def test_link_local_metadata_and_special_targets_are_always_refused(
    url: str, why: str, allow_private: bool
) -> None:
    with pytest.raises(TargetRefused, match=why):
        await resolve_target(url, allow_private=allow_private)


@pytest.mark.parametrize(
    ("ip", "refused", "refused_when_private_allowed"),
    [
        ("10.1.2.3", True, False),
        ("172.16.0.1", True, False),
        ("192.168.1.1", True, False),
        ("100.64.0.1", True, False),
        ("127.0.0.1", True, False),
        ("::1", True, False),
        ("fc00::1", True, False),
        ("::ffff:10.1.2.3", True, False),
        ("::ffff:127.0.0.1", True, False),
        ("169.254.169.254", True, True),
        ("fe80::1", True, True),
        ("fd00:ec2::254", True, True),
        ("::ffff:169.254.169.254", True, True),
        ("64:ff9b::a9fe:a9fe", True, True),  # NAT64 form of the metadata address
        ("::ffff:0:a9fe:a9fe", True, True),  # IPv4-translated form of the metadata address
        ("::ffff:0:a01:203", True, False),  # IPv4-translated 10.1.2.3
        ("::ffff:0:808:808", False, False),  # IPv4-translated 8.8.8.8
        ("0.0.0.0", True, True),
        ("ff02::1", True, True),
        ("8.8.8.8", False, False),
        ("2606:4700:4700::1111", False, False),
        ("::ffff:8.8.8.8", False, False),
    ],
)
def test_address_problem(ip: str, refused: bool, refused_when_private_allowed: bool) -> None:
    assert (address_problem(ip, allow_private=False) is not None) is refused
    assert (address_problem(ip, allow_private=True) is not None) is refused_when_private_allowed


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetRefused, match="does not resolve"):
        await resolve_target("https://no-such-host.invalid/hook", allow_private=True)


async def test_a_resolved_target_keeps_host_port_path_and_the_checked_addresses() -> None:
    target = await resolve_target("https://[::1]:8443/hook?a=1", allow_private=True)
    assert target == Target(scheme="https", host="::1", port=8443, path_and_query="/hook?a=1", addresses=("::1",))
    assert target.host_header == "[::1]:8443"
    assert target.url_for("::1") == "https://[::1]:8443/hook?a=1"
    plain = await resolve_target("http://localhost/", allow_private=True)
    assert plain.port == 80 and plain.host_header == "localhost"


@pytest.mark.parametrize(
    ("url", "https_required", "message"),
    [
        ("ftp://example.com/hook", False, "https://"),
        ("http://example.com/hook", True, "must use https"),
        ("https://user:pass@example.com/hook", False, "user name or password"),
        ("https:///hook", False, "name a host"),
        ("/hook", False, "https://"),
        ("https://example.com:0/hook", False, "port"),
        ("https://example.com:70000/hook", False, "port"),
        ("https://example.com/" + "a" * 2000, False, "longer than 2000"),
        ("https://exa mple.com/", False, "spaces"),
        ("https://2130706433/", False, "not a valid host name"),
    ],
)
def test_url_problem_explains(url: str, https_required: bool, message: str) -> None:
    problem = url_problem(url, https_required=https_required)
    assert problem is not None and message in problem


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "https://hooks.example.co.uk:8443/a?b=c", "http://10.0.0.1/x"]
)
def test_url_problem_accepts(url: str) -> None:
    assert url_problem(url, https_required=url.startswith("https")) is None


# --- one attempt -----------------------------------------------------------------------------------------------


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


def test_every_case_event_and_referral_belongs_to_an_authority() -> None:
    """A case event of any type (a new one too) is routed to the authority responsible for the child,
    never dropped as no authority's; a referral to its own authority; the platform's own
    notices to no authority (they are addressed to one organisation)."""
    assert {m for m in MODELS if issubclass(m, CaseEventData)} | {ReferralReceived} == set(AUTHORITIES)
