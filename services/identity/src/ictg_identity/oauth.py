"""The token endpoint (RFC 6749 §4.4 client credentials; client authentication `client_secret_basic`
and RFC 7523 `private_key_jwt`), its metadata (RFC 8414) and keys (JWKS).

Authlib does the protocol: the grant, both client authentications, the assertion's checks and the
RFC 9068 JWT access token. Authlib's server is synchronous, so a token request runs it in a worker
thread, and the few lookups it makes (the client, a used assertion id) run on the event loop through
`Exchange.call`.

Errors are RFC 6749 §5.2 (`error`, `error_description`), with the RFC 9457 members beside them in
the same `application/json` body; `invalid_client` is always 401 with `WWW-Authenticate`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar, cast
from urllib.parse import parse_qsl

import jwt
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from joserfc import jwk
from joserfc.errors import JoseError
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import audit as audit_log
from ictg_common.auth import SCOPES, Actor
from ictg_common.errors import TYPE_BASE
from ictg_common.ratelimit import SharedRateLimiter
from ictg_common.runtime import Runtime, runtime_of

from .clients import service as clients
from .keys import KeyStore
from .models import SCHEMA, Client, UsedAssertion
from .runtime import IdentityRuntimeDep
from .settings import IdentitySettings

T = TypeVar("T")
CLIENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SCOPE_NAME = re.compile(r"[a-z_:]{1,60}")
# Authlib's Exchange.call blocks its worker thread while the loop runs the lookup: its own threads, so a
# burst of token requests never takes the default executor's (DNS lookups use those).
EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="oauth")


router = APIRouter(tags=["oauth2"])
TOKEN_PATH = "/oauth2/token"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class FormRequest(OAuth2Request):
    """A token request as Authlib reads it: the form, the headers, the endpoint's public URL."""

    def __init__(self, uri: str, form: dict[str, str], headers: dict[str, str]) -> None:
        super().__init__("POST", uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class TokenClient(ClientMixin):
    """A registered client as Authlib asks about it."""

    def __init__(self, registered: clients.Registered) -> None:
        self.registered = registered
        self.row = registered.client

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.row.scopes)
        asked = set(scope_to_list(scope))
        return " ".join(s for s in self.row.scopes if s in asked)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return self.registered.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == self.row.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class Exchange:
    """One token request's bridge from Authlib (in a worker thread) to the database (on the loop)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: IdentitySettings,
        loop: asyncio.AbstractEventLoop,
        signing: jwk.KeySet,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.loop = loop
        self.signing = signing
        self.client: TokenClient | None = None
        self.asked_for: str | None = None  # the client id the request named
        self.why: str | None = None  # for the audit: why the named client was not found

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout=15)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def query_client(self, client_id: str) -> TokenClient | None:
        self.asked_for = client_id
        if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
            self.why, self.client = "malformed client id", None  # never looked up: no id has that shape
            return None

        async def load() -> tuple[clients.Registered | None, str | None]:
            async with self.sessionmaker() as session:
                found = await clients.live(session, client_id)
                if found is not None:
                    return found, None
                return None, "disabled client" if await session.get(Client, client_id) is not None else "unknown client"

        registered, self.why = self.call(load())
        self.client = TokenClient(registered) if registered is not None else None
        return self.client

    def first_use(self, client_id: str, jti: str, exp: float) -> bool:
        async def remember() -> bool:
            async with self.sessionmaker() as session, session.begin():
                now = datetime.now(UTC)
                await session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now - timedelta(hours=1)))
                inserted = await session.execute(
                    text(
                        "INSERT INTO identity.used_assertion (client_id, jti, expires_at) VALUES (:c, :j, :e) "
                        "ON CONFLICT DO NOTHING RETURNING jti"
                    ),
                    {"c": client_id, "j": jti[:200], "e": datetime.fromtimestamp(exp, UTC) + timedelta(minutes=2)},
                )
                return inserted.first() is not None

        return self.call(remember())


class Grant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "private_key_jwt"]

    def validate_requested_scope(self) -> None:
        scope = self.request.payload.scope
        if scope is None:
            return
        asked = scope_to_list(scope)
        if not asked:
            raise InvalidScopeError(description="scope is empty: leave it out for every scope the client holds")
        above = sorted(set(asked) - set(self.client.row.scopes))
        if above:
            named = " ".join(s for s in above if SCOPE_NAME.fullmatch(s)) or "a scope it does not know"
            raise InvalidScopeError(description=f"The client may not hold {named}.")


class Assertion(JWTBearerClientAssertion):
    """`private_key_jwt`: an assertion signed with one of the client's registered keys, for this
    server, used once, living at most `assertion_max_seconds`."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, exchange: Exchange) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.exchange = exchange

    def get_audiences(self) -> list[str]:
        issuer = self.exchange.settings.issuer.rstrip("/")
        return [self.exchange.settings.token_endpoint, issuer]

    def resolve_client_public_key(self, client: TokenClient) -> jwk.KeySet:
        if client.row.auth_method != self.CLIENT_AUTH_METHOD or not client.row.jwks:
            raise InvalidClientError(description="The client does not authenticate with private_key_jwt.")
        return jwk.KeySet.import_key_set(cast(Any, client.row.jwks))

    def verify_claims(self, claims: Any) -> None:
        exp = claims.get("exp")
        longest = self.exchange.settings.assertion_max_seconds
        # Compared, never converted: an exp of 10**400 is a Python int, NaN is never equal to itself.
        if isinstance(exp, int | float) and (exp != exp or exp > time.time() + longest + self.leeway):
            raise InvalidClientError(description=f"The assertion lives too long: exp at most {longest} s from now.")
        jti = claims.get("jti")
        if jti is not None and (not isinstance(jti, str) or not 1 <= len(jti) <= 200 or not jti.isprintable()):
            raise InvalidClientError(description="jti is a printable string of 1 to 200 characters.")
        super().verify_claims(claims)

    def validate_jti(self, claims: Any, jti: str) -> bool:
        return self.exchange.first_use(str(claims["sub"]), jti, float(claims["exp"]))


class Tokens(JWTBearerTokenGenerator):
    """RFC 9068 access tokens, ES256, carrying the client's organisation, regions or codes."""

    def __init__(self, exchange: Exchange) -> None:
        settings = exchange.settings
        super().__init__(settings.issuer, alg="ES256", expires_generator=lambda _c, _g: settings.token_seconds)
        self.exchange = exchange

    def get_jwks(self) -> jwk.KeySet:
        return self.exchange.signing

    def get_audiences(self, client: TokenClient, user: Any, scope: str) -> str:
        return self.exchange.settings.auth_audience

    def get_extra_claims(self, client: TokenClient, grant_type: str, user: Any, scope: str) -> dict[str, Any]:
        row = client.row
        extra: dict[str, Any] = {"org_type": row.org_type, "org_name": row.org_name, "regions": list(row.regions)}
        if row.la_codes:
            extra["la_codes"] = list(row.la_codes)
        if row.service:
            extra |= {"sub": f"service:{row.service}", "ictg_service": True}
        return extra


class TokenServer(AuthorizationServer):
    def __init__(self, exchange: Exchange) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.exchange = exchange
        self.register_grant(Grant)
        self.register_client_auth_method("private_key_jwt", Assertion(exchange))
        self.register_token_generator("default", Tokens(exchange))

    def query_client(self, client_id: str) -> TokenClient | None:
        return self.exchange.query_client(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Access tokens are JWTs, verified by their signature: nothing is stored."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An RFC 6749 §5.2 error, with RFC 9457's members in the same body."""
    body = {"error": error, "error_description": description, "type": TYPE_BASE + f"oauth2-{error.replace('_', '-')}",
            "title": error.replace("_", " ").capitalize(), "status": status, "detail": description,
            "instance": TOKEN_PATH}  # fmt: skip
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def _form(body: bytes, content_type: str) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise InvalidRequestError(description="Send the token request as application/x-www-form-urlencoded.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError(description="The body is not a URL-encoded form.") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise InvalidRequestError(description="A parameter appears more than once: send each once.")
    if not form.get("grant_type"):
        raise InvalidRequestError(description="grant_type is missing: send grant_type=client_credentials.")
    return form


def _basic(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """HTTP Basic's id and secret, or (None, None) when there are none or they cannot be read."""
    try:
        client_id, secret = extract_basic_authorization(headers)
    except (ValueError, UnicodeError):
        return None, None
    return client_id, secret


def _claimed_id(form: dict[str, str], headers: dict[str, str]) -> str | None:
    """The client id a request claims, before it is checked (for the rate limit and the audit): Basic's,
    the form's `client_id`, or the unverified `sub` of a client assertion."""
    claimed: object = _basic(headers)[0] or form.get("client_id")
    if not claimed and form.get("client_assertion"):
        try:
            claimed = jwt.decode(form["client_assertion"], options={"verify_signature": False}).get("sub")
        except (jwt.PyJWTError, ValueError, AttributeError):
            claimed = None
    return _printable(str(claimed))[:64] if claimed else None


def _printable(text: str) -> str:
    """`text` as it may be stored (an audit row): no control characters, NUL among them."""
    return "".join(c if c.isprintable() else "?" for c in text)


@router.post(
    TOKEN_PATH,
    summary="Get an access token (client credentials)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string", "description": "Space-separated; narrows the client's."},
                            "client_assertion_type": {
                                "type": "string",
                                "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
                            },
                            "client_assertion": {"type": "string", "description": "private_key_jwt (RFC 7523)"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request, runtime: IdentityRuntimeDep) -> JSONResponse:
    """RFC 6749 §4.4. Authenticate with HTTP Basic (`client_secret_basic`: your client id and secret) or
    a signed assertion (`private_key_jwt`, RFC 7523). The answer: `access_token` (a JWT, ES256, for 15
    minutes), `token_type` `Bearer`, `expires_in`, `scope`. Send it to any service as
    `Authorization: Bearer …`, and ask for a new one before it expires."""
    desk, settings = runtime.extras.desk, runtime.settings
    headers = {k.title(): v for k, v in request.headers.items()}
    try:
        form = _form(await request.body(), request.headers.get("content-type", ""))
    except InvalidRequestError as exc:
        return _oauth_error(400, "invalid_request", str(exc.description))
    claimed = _claimed_id(form, headers)
    if _basic(headers)[0] is not None and form.get("client_assertion"):
        await _audit(request, claimed, None, "token.refused", "invalid_request: two client authentications")
        return _oauth_error(400, "invalid_request", "Authenticate one way: HTTP Basic or a client assertion, not both.")
    address = request.client.host if request.client else "unknown"
    # Per client and address: guesses at a client's secret from elsewhere do not lock the client itself out
    # (the per-address limit bounds the guessing).
    per_client = f"{claimed}@{address}" if claimed else None
    for limiter, key in ((desk.per_address, address), (desk.per_client, per_client)):
        if key and (wait := await limiter.take(key)):
            await _audit(request, claimed, None, "token.refused", "rate_limited")
            return _oauth_error(429, "slow_down", "Too many token requests; a token lasts 15 minutes: reuse it.",
                                {"Retry-After": str(int(wait) + 1)})  # fmt: skip
    exchange = Exchange(runtime.sessionmaker, settings, asyncio.get_running_loop(), await desk.keys.signing())
    server = TokenServer(exchange)
    oauth_request = FormRequest(settings.token_endpoint, form, headers)
    try:
        status, body, out_headers = await asyncio.get_running_loop().run_in_executor(
            EXECUTOR, server.create_token_response, oauth_request
        )
    except (JoseError, ValueError, TypeError, KeyError) as exc:  # what Authlib let through about a client's input
        await _audit(
            request, exchange.asked_for or claimed, exchange.client, "token.refused", f"invalid_client: {exc!r}"
        )
        return _oauth_error(401, "invalid_client", "The client's credentials could not be read.",
                            {"WWW-Authenticate": 'Basic realm="ictg", error="invalid_client"'})  # fmt: skip
    client_id = exchange.client.row.client_id if exchange.client is not None else (exchange.asked_for or claimed)
    if status != 200:
        error = str(body.get("error", "invalid_request"))
        description = str(body.get("error_description") or error)
        basic = _basic(headers)[0] is not None
        if error == "invalid_client" and basic:
            # The audit says which (unknown, disabled, wrong or expired secret); the caller is not told.
            why = exchange.why or ("wrong or expired secret" if exchange.client is not None else description)
            await _audit(request, client_id, exchange.client, "token.refused", f"{error}: {why}")
            description = ("The client id or secret is wrong, the secret has expired after a rotation, or the client "
                           "is disabled.")  # fmt: skip
        else:
            await _audit(request, client_id, exchange.client, "token.refused",
                         f"{error}: {exchange.why or description}")  # fmt: skip
        extra = dict(out_headers)
        if error == "invalid_client":
            status = 401
            extra["WWW-Authenticate"] = 'Basic realm="ictg", error="invalid_client"'
        if error == "invalid_client" and not basic and not form.get("client_assertion"):
            description = ("Authenticate: HTTP Basic with your client id and secret (client_secret_basic), or "
                           "client_assertion_type and client_assertion (private_key_jwt).")  # fmt: skip
        extra.pop("Content-Type", None)
        return _oauth_error(status, error, description, extra)
    assert exchange.client is not None
    await _audit(request, client_id, exchange.client, "token.issued", str(body.get("scope", "")))
    return JSONResponse(body, headers=NO_STORE)


async def _audit(request: Request, client_id: str | None, client: TokenClient | None, action: str, reason: str) -> None:
    row = client.row if client is not None else None
    client_id = _printable(client_id)[:64] if client_id else None
    reason = _printable(reason)
    actor = Actor(
        sub=client_id or "anonymous", scopes=frozenset(),
        org_type=row.org_type if row is not None else None, org_name=row.org_name if row is not None else None,
    )  # fmt: skip
    await audit_log.record_refusal(
        runtime_of(request.app).sessionmaker, schema=SCHEMA, actor=actor, action=action,
        resource=f"/v1/clients/{client_id}"[:200] if client_id else TOKEN_PATH, outcome="ok" if action == "token.issued"
        else "denied", reason=reason[:1000],
    )  # fmt: skip


@router.get("/.well-known/oauth-authorization-server", summary="Server metadata (RFC 8414)")
async def metadata(runtime: IdentityRuntimeDep) -> dict[str, Any]:
    settings = runtime.settings
    issuer = settings.issuer.rstrip("/")
    return {
        "issuer": issuer,
        "token_endpoint": settings.token_endpoint,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "scopes_supported": list(SCOPES),
        "service_documentation": f"{issuer}/docs",
    }


@router.get("/.well-known/jwks.json", summary="The keys that sign access tokens (current and next)")
async def jwks(runtime: IdentityRuntimeDep) -> JSONResponse:
    keys = runtime.extras.desk.keys
    return JSONResponse(await keys.published(), headers={"Cache-Control": "public, max-age=300"})


@dataclass(frozen=True)
class TokenDesk:
    """The token endpoint's own running parts, made by the app's lifespan (`IdentityExtras`): the keys and
    the two limits, each one bucket across the service's replicas (in its database)."""

    keys: KeyStore
    per_client: SharedRateLimiter
    per_address: SharedRateLimiter

    @classmethod
    def open(cls, keys: KeyStore, settings: IdentitySettings, core: Runtime[IdentitySettings, None]) -> TokenDesk:
        def limit(per_minute: int, bucket: str) -> SharedRateLimiter:
            return SharedRateLimiter(
                per_minute, engine=core.engine, schema=core.schema, bucket=bucket,
                fell_back=core.telemetry.rate_limit_fell_back, store_timeout=settings.rate_limit_store_timeout_seconds,
            )  # fmt: skip

        return cls(
            keys, limit(settings.token_rate_per_client, "client"), limit(settings.token_rate_per_address, "address")
        )
