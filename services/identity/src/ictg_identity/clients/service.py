"""Registering, rotating and disabling clients; checking a secret.

Secrets are 256 random bits, shown once and stored as their SHA-256 digest: with that much entropy a
digest cannot be reversed by guessing, so a slow password hash would add nothing but latency to every
token request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from joserfc import jwk
from joserfc.errors import JoseError
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit as audit_log
from ictg_common.auth import COUNCIL, SCOPES, STAFF, Actor, ceiling, valid_la_codes
from ictg_common.clock import utcnow
from ictg_common.errors import Conflict, NotFound, ValidationFailed, field_error
from ictg_common.reference import REGION_SLUGS

from ..models import SCHEMA, Client, ClientSecret
from . import repository
from .schemas import ClientIn


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Registered:
    """A client as the token endpoint sees it: its row and the digests of its secrets still valid."""

    client: Client
    digests: tuple[str, ...]

    def check_secret(self, secret: str) -> bool:
        given = digest(secret)
        # Every digest is compared, so the time taken says nothing about which one matched.
        return any([hmac.compare_digest(given, d) for d in self.digests])


def check_registration(body: ClientIn) -> None:
    """A 422 naming every field that is wrong: scopes above the type's ceiling, regions or codes unknown,
    a council without codes, a key set that is not public keys, a service outside the staff."""
    errors: list[dict[str, str]] = []
    unknown = sorted(set(body.scopes) - set(SCOPES))
    allowed = ceiling(body.org_type)
    above = sorted(set(body.scopes) - allowed) if allowed is not None else []
    if unknown:
        errors.append(field_error("/scopes", f"unknown scope(s): {', '.join(unknown)}"))
    elif above:
        errors.append(field_error("/scopes", f"an organisation of type {body.org_type!r} may not hold "
                                  f"{', '.join(above)} (its type's ceiling: {', '.join(sorted(allowed or ()))})"))  # fmt: skip
    if len(set(body.scopes)) != len(body.scopes):
        errors.append(field_error("/scopes", "each scope once"))
    if bad := sorted(set(body.regions) - set(REGION_SLUGS)):
        errors.append(field_error("/regions", f"unknown region(s): {', '.join(bad)}; one of {', '.join(REGION_SLUGS)}"))
    if body.org_type == COUNCIL:
        if not body.la_codes or not valid_la_codes(body.la_codes):
            errors.append(field_error("/la_codes", "a council's client needs its distinct ONS codes of upper-tier "
                                      "local authorities, spelt as the reference spells them (E08000003)"))  # fmt: skip
        if body.regions:
            errors.append(field_error("/regions", "a council's client holds codes, not regions"))
    elif body.la_codes:
        errors.append(field_error("/la_codes", "only a council's client (org_type local_authority) holds la_codes"))
    if body.service is not None and body.org_type != STAFF:
        errors.append(field_error("/service", f"only the service's own staff (org_type {STAFF!r}) register a service"))
    if body.auth_method == "private_key_jwt":
        if body.jwks is None:
            errors.append(field_error("/jwks", "private_key_jwt needs the client's public keys (a JWKS)"))
        elif problem := _public_jwks_problem(body.jwks):
            errors.append(field_error("/jwks", problem))
    elif body.jwks is not None:
        errors.append(field_error("/jwks", "only a private_key_jwt client registers keys"))
    if errors:
        raise ValidationFailed(f"{len(errors)} field(s) failed validation.", errors=errors)


def _public_jwks_problem(jwks: dict[str, Any]) -> str | None:
    """Why `jwks` is not a set of public signing keys this server can verify (None if it is)."""
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys or len(keys) > 5:
        return 'a JWKS is {"keys": [...]} with 1 to 5 keys'
    kids = [k.get("kid") for k in keys if isinstance(k, dict)]
    if len(kids) != len(keys) or not all(isinstance(kid, str) and kid for kid in kids) or len(set(kids)) != len(kids):
        return "each key has its own kid"
    for key in keys:
        if any(private in key for private in ("d", "p", "q", "dp", "dq", "qi", "k")):
            return "a key holds private parts: register only the public keys, and replace that key now"
        if key.get("use", "sig") != "sig" or key.get("alg", "ES256" if key.get("kty") == "EC" else "RS256") not in (
            "ES256",
            "RS256",
        ):
            return "each key signs (use sig) with ES256 or RS256"
        if not ((key.get("kty") == "EC" and key.get("crv") == "P-256") or key.get("kty") == "RSA"):
            return "each key is an EC P-256 or an RSA public key"
    try:
        with warnings.catch_warnings():  # a short RSA key warns: it is refused below, in words
            warnings.simplefilter("ignore")
            parsed = jwk.KeySet.import_key_set(cast(Any, jwks))
    except (JoseError, ValueError, TypeError, KeyError):
        return "the keys do not parse as a JWKS"
    for key in parsed.keys:
        if isinstance(key, jwk.RSAKey) and key.raw_value.key_size < 2048:
            return "an RSA key has at least 2048 bits"
    return None


@dataclass(frozen=True)
class Shown:
    """A client as the registry shows it: its registration, its secrets' dates, and a secret made just now
    (shown this once) if there is one."""

    client: Client
    secrets: list[ClientSecret]
    new_secret: str | None = None
    previous_expires_at: datetime | None = None


async def _shown(session: AsyncSession, client: Client, **extra: Any) -> Shown:
    return Shown(client, (await repository.secrets_of(session, [client.client_id]))[client.client_id], **extra)


def _by(by: Actor | str) -> str:
    return by if isinstance(by, str) else by.sub


async def create(session: AsyncSession, body: ClientIn, *, by: Actor | str) -> Shown:
    """Register a client (audited); a secret client gets its secret, shown once."""
    check_registration(body)
    if body.service is not None:
        # One client per platform service: its tokens' sub (service:<name>) names one client.
        if (taken := await repository.live_client_of_service(session, body.service)) is not None:
            raise Conflict(
                f"Service {body.service} already has client {taken}: rotate its secret, or disable it first."
            )
    client_id = f"{body.org_type.replace('_', '-')}-{secrets.token_hex(8)}"  # [a-z-]+-[0-9a-f]{16}: safe in a path
    client = await register(session, client_id, body, by=by)
    secret = None
    if body.auth_method == "client_secret_basic":
        secret = await set_secret(session, client_id, overlap=None)
    await _audit(session, by, "client.created", client_id, " ".join(client.scopes))
    return await _shown(session, client, new_secret=secret)


async def register(session: AsyncSession, client_id: str, body: ClientIn, *, by: Actor | str) -> Client:
    """Store (or, for a fixed development id, replace) a client registration."""
    found = await repository.get(session, client_id)
    client = found if found is not None else Client(client_id=client_id, created_at=utcnow())
    client.name, client.org_type, client.org_name = body.name, body.org_type, body.org_name
    client.scopes, client.regions, client.la_codes = list(body.scopes), list(body.regions), list(body.la_codes)
    client.auth_method, client.jwks, client.service = body.auth_method, body.jwks, body.service
    client.created_by = _by(by)
    client.disabled_at = None
    if found is None:
        await repository.add(session, client)
    else:
        await repository.saved(session)
    return client


async def set_secret(session: AsyncSession, client_id: str, *, overlap: timedelta | None) -> str:
    """A new secret for the client. The ones it had expire after `overlap` (None: at once)."""
    now = utcnow()
    await repository.expire_secrets(session, client_id, at=now + overlap if overlap is not None else now)
    secret = new_secret()
    await repository.add_secret(session, client_id, digest(secret), at=now)
    return secret


async def get(session: AsyncSession, client_id: str) -> Client:
    client = await repository.get(session, client_id)
    if client is None:
        raise NotFound(f"No client {client_id}.")
    return client


async def show(session: AsyncSession, client_id: str) -> Shown:
    return await _shown(session, await get(session, client_id))


async def listed(session: AsyncSession) -> list[Shown]:
    clients = await repository.all_clients(session)
    secrets_by_client = await repository.secrets_of(session, [c.client_id for c in clients])
    return [Shown(c, secrets_by_client[c.client_id]) for c in clients]


async def _changeable(session: AsyncSession, client_id: str, method: str, what: str) -> Client:
    client = await get(session, client_id)
    if client.disabled_at is not None:
        raise Conflict(f"Client {client_id} is disabled: register a new one.")
    if client.auth_method != method:
        raise Conflict(f"Client {client_id} authenticates with {client.auth_method}: it has no {what}.")
    return client


async def rotate(session: AsyncSession, client_id: str, *, overlap: timedelta, by: Actor | str) -> Shown:
    """A new secret (audited); the previous one is accepted for `overlap` more."""
    client = await _changeable(session, client_id, "client_secret_basic", "secret to rotate")
    secret = await set_secret(session, client_id, overlap=overlap)
    await _audit(session, by, "client.secret_rotated", client_id, f"previous valid {int(overlap.total_seconds())} s")
    return await _shown(session, client, new_secret=secret, previous_expires_at=utcnow() + overlap)


async def replace_keys(session: AsyncSession, client_id: str, jwks: dict[str, Any], *, by: Actor | str) -> Shown:
    """A private_key_jwt client's new public keys (audited)."""
    client = await _changeable(session, client_id, "private_key_jwt", "keys to replace")
    if problem := _public_jwks_problem(jwks):
        raise ValidationFailed(problem, errors=[field_error("/jwks", problem)])
    client.jwks = jwks
    await repository.saved(session)
    kids = " ".join(str(k.get("kid")) for k in jwks.get("keys", []) if isinstance(k, dict))
    await _audit(session, by, "client.keys_replaced", client_id, kids[:1000])
    return await _shown(session, client)


async def disable(session: AsyncSession, client_id: str, *, by: Actor | str) -> Shown:
    """No new token from now on (audited)."""
    client = await get(session, client_id)
    if client.disabled_at is None:
        client.disabled_at = utcnow()
    await repository.saved(session)
    await _audit(session, by, "client.disabled", client_id, None)
    return await _shown(session, client)


async def live(session: AsyncSession, client_id: str) -> Registered | None:
    """The client as the token endpoint sees it, or None when unknown or disabled."""
    client = await repository.get(session, client_id)
    if client is None or client.disabled_at is not None:
        return None
    now = utcnow()
    valid = [s.digest for s in (await repository.secrets_of(session, [client_id]))[client_id]
             if s.expires_at is None or s.expires_at > now]  # fmt: skip
    return Registered(client, tuple(valid))


async def _audit(session: AsyncSession, by: Actor | str, action: str, client_id: str, reason: str | None) -> None:
    if isinstance(by, Actor):  # the command line's registrations are its operator's, not an API caller's
        await audit_log.record(session, schema=SCHEMA, actor=by, action=action, resource=client_id, reason=reason)
