"""Standard Webhooks signatures, made with the `standardwebhooks` package.

A subscription's secret is `whsec_` + base64 of 32 random bytes. During a secret rotation the old and new
secrets both sign: the `webhook-signature` header then carries one `v1,<base64>` signature per secret,
separated by single spaces. `standardwebhooks.Webhook.verify` splits the header on spaces and accepts the
message if *any* `v1` signature matches its own secret, so a receiver holding either secret verifies it.
"""

from __future__ import annotations

import base64
import math
import secrets as _secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A new signing secret (`whsec_…`), in the form `standardwebhooks.Webhook` accepts."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _utc(timestamp: datetime) -> datetime:
    # Webhook.sign *replaces* the tzinfo with UTC (it does not convert), so hand it a UTC time.
    # A naive datetime is taken to be UTC already, as the package does.
    return timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else timestamp.astimezone(UTC)


def _text(body: bytes | str) -> str:
    # The package signs text and its verify() decodes the received bytes as UTF-8: the same bytes are signed.
    return body.decode("utf-8") if isinstance(body, bytes) else body


def _webhook(secret: str) -> Webhook:
    try:
        return Webhook(secret)
    except Exception as exc:  # binascii.Error, EmptyWebhookSecretError, RuntimeError
        raise ValueError("not a valid webhook secret") from exc


def signature_header(secrets: Sequence[str], *, msg_id: str, timestamp: datetime, body: bytes | str) -> str:
    """The `webhook-signature` value: one `v1,…` signature per secret (in order, duplicates once), space-separated."""
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, not one string")
    unique = list(dict.fromkeys(secrets))
    if not unique:
        raise ValueError("at least one secret is needed to sign")
    when, data = _utc(timestamp), _text(body)
    return " ".join(_webhook(secret).sign(msg_id=msg_id, timestamp=when, data=data) for secret in unique)


def headers(secrets: Sequence[str], *, msg_id: str, timestamp: datetime, body: bytes | str) -> dict[str, str]:
    """The headers of a delivery: `webhook-id`, `webhook-timestamp` (integer seconds), `webhook-signature`,
    `content-type`."""
    when = _utc(timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(when.timestamp())),
        "webhook-signature": signature_header(secrets, msg_id=msg_id, timestamp=when, body=body),
        "content-type": "application/json",
    }
