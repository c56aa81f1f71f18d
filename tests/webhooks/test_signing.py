"""Standard Webhooks signing (`ictg_webhooks.signing`): the secret and headers, and a signed delivery
verified (or refused) by a receiver holding the secrets, rotation included."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook

from ictg_webhooks.sender import Pool
from ictg_webhooks.signing import headers, new_secret, signature_header
from tests.support.delivery_receiver import BODY, Receiver, client_fixture, deliver, receiver_fixture  # noqa: F401


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


async def test_a_signed_delivery_verifies_at_the_receiver(receiver: Receiver, client: Pool) -> None:
    secret = new_secret()
    receiver.secrets = [secret]
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[secret])
    assert outcome.ok and outcome.status_code == 204 and outcome.error is None and not outcome.gone
    assert outcome.latency_ms >= 0
    [got] = receiver.received
    assert got.verified and got.body == BODY
    assert got.headers["content-type"] == "application/json"
    assert got.host == f"127.0.0.1:{receiver.port}"


async def test_a_tampered_body_fails_verification(receiver: Receiver, client: Pool) -> None:
    secret = new_secret()
    receiver.secrets = [secret]
    tampered = BODY.replace(b"c_1", b"c_2")
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[secret], body=tampered, signed_body=BODY)
    assert outcome.status_code == 401 and not outcome.ok
    [got] = receiver.received
    assert not got.verified and got.error == "No matching signature found"


async def test_a_timestamp_older_than_the_package_tolerance_fails(receiver: Receiver, client: Pool) -> None:
    secret = new_secret()
    receiver.secrets = [secret]
    outcome = await deliver(
        client, f"{receiver.base}/ok", secrets=[secret], at=datetime.now(UTC) - timedelta(minutes=6)
    )
    assert outcome.status_code == 401
    assert receiver.received[0].error == "Message timestamp too old"
    fresh = await deliver(client, f"{receiver.base}/ok", secrets=[secret], at=datetime.now(UTC) - timedelta(minutes=4))
    assert fresh.ok


async def test_a_wrong_secret_fails_verification(receiver: Receiver, client: Pool) -> None:
    receiver.secrets = [new_secret()]
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[new_secret()])
    assert outcome.status_code == 401
    assert receiver.received[0].error == "No matching signature found"


@pytest.mark.parametrize("held", ["old", "new"])
async def test_during_rotation_both_secrets_sign_and_either_verifies(
    receiver: Receiver, client: Pool, held: str
) -> None:
    old, new = new_secret(), new_secret()
    receiver.secrets = [old if held == "old" else new]
    outcome = await deliver(client, f"{receiver.base}/ok", secrets=[old, new])
    assert outcome.ok, outcome
    [got] = receiver.received
    assert got.verified
    assert len(got.headers["webhook-signature"].split(" ")) == 2
