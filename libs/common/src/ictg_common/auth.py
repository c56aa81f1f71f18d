"""Bearer JWT authentication and scope checks, plus a CLI that mints development tokens (for tests).

Production: ES256/RS256 tokens of the issuers in `ICTG_AUTH_ISSUERS` (the platform's token service,
`services/identity`, and any staff identity provider), verified against their JWKS
(`ictg_common.issuers`). Development (`ICTG_AUTH_DEVELOPMENT=true`): HS256 tokens signed with
`ICTG_AUTH_SECRET` are accepted as well.

Every token must carry `iat` and `exp`, live at most `ICTG_AUTH_MAX_TOKEN_SECONDS` (`exp - iat`)
and not be issued in the future (beyond `CLOCK_LEEWAY_SECONDS` of clock drift).

Platform services (the case API's claim check, metrics' reconciliation) are not rate limited: they
follow the event rate, not a person's. They are recognised by the verified boolean claim
`ictg_service: true` together with a `sub` of `service:<name>`, never by the `sub` alone (anyone
can ask an IdP for a `sub` that looks like a service). The token service sets the claim only on
the tokens of the platform's own service clients (registered as a service, by staff); a staff
provider's mapped claims never carry it. In development `mint_token(service=True)` sets it on
HS256 tokens signed with the platform's own `ICTG_AUTH_SECRET`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request

from .errors import Forbidden, TooManyRequests, Unauthorized
from .issuers import ASYMMETRIC, IssuerConfig, IssuerKeys, UnknownKey

if TYPE_CHECKING:
    from .runtime import Runtime
from .reference import local_authorities

SCOPES = (
    "referrals:write", "referrals:read", "referrals:import",
    "cases:read", "cases:write", "cases:admin", "cases:break_glass",
    "la:read", "la:write", "webhooks:manage",
    "metrics:read", "metrics:query", "metrics:read:unsuppressed", "metrics:admin",
    "audit:read", "clients:admin",
)  # fmt: skip


COUNCIL = "local_authority"  # the org_type of a council's token
STAFF = "ictg"  # the org_type of the ICTG service's own staff and systems

# Scope ceilings by organisation type: the most a token of each type may hold, whatever issued it. First
# responders file referrals (and follow their own); councils read their own children, file their own
# identifiers, and refer children too (they are first responders); everyone may read published statistics;
# only the service's own staff and services hold the rest (every child's records, free queries, true
# counts, the audit, imports and the admin scopes).
FIRST_RESPONDERS = frozenset({
    "police", "border_force", "uk_visas_immigration", "immigration_enforcement", "national_crime_agency",
    "gangmasters_labour_abuse_authority", "health", "ngo", "other",
})  # fmt: skip
PUBLIC_CEILING = frozenset({"metrics:read"})
FIRST_RESPONDER_CEILING = PUBLIC_CEILING | {"referrals:write", "webhooks:manage"}
COUNCIL_CEILING = FIRST_RESPONDER_CEILING | {"la:read", "la:write"}


def ceiling(org_type: str | None) -> frozenset[str] | None:
    """The scopes a token of `org_type` may hold (None: any, for the service's staff)."""
    if org_type == STAFF:
        return None
    if org_type == COUNCIL:
        return COUNCIL_CEILING
    if org_type in FIRST_RESPONDERS:
        return FIRST_RESPONDER_CEILING
    return PUBLIC_CEILING


@dataclass(frozen=True)
class Actor:
    sub: str
    scopes: frozenset[str]
    org_type: str | None = None
    org_name: str | None = None
    regions: tuple[str, ...] = field(default_factory=tuple)
    # A council's ONS codes (claim `la_codes`): each a known upper-tier authority.
    la_codes: tuple[str, ...] = field(default_factory=tuple)
    # A platform service (verified `ictg_service` claim): exempt from the per-caller rate limit.
    service: bool = False
    # The token's issuer (`iss`; None for a development token without one): part of the principal.
    issuer: str | None = None

    @property
    def principal(self) -> str:
        """Who is acting, as one key (a principal is `iss`, `org_type`, `org_name`, `sub`): what
        belongs to a caller (a privacy budget) is keyed by this, never by `sub` alone, which two
        organisations' tokens may share."""
        return json.dumps([self.issuer, self.org_type, self.org_name, self.sub], separators=(",", ":"))

    @property
    def principal_key(self) -> str:
        """`principal` as a fixed-size key (SHA-256, hex) for columns and buckets of bounded size."""
        return hashlib.sha256(self.principal.encode()).hexdigest()

    @property
    def organisation(self) -> tuple[str | None, str | None]:
        return (self.org_type, self.org_name)

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def council(self) -> bool:
        """A local authority's token: it acts only for its `la_codes` (docs/security.md)."""
        return self.org_type == COUNCIL

    def authorities(self, asked: Sequence[str]) -> tuple[list[str], list[str]]:
        """(the codes asked for, upper-cased, or all the token's when none; those of them it does not hold)."""
        codes = [c.strip().upper() for c in asked] or list(self.la_codes)
        return codes, sorted(set(codes) - set(self.la_codes))

    def not_held(self, foreign: Sequence[str]) -> str:
        """The refusal's message for codes the token does not hold."""
        return f"Your token answers for {', '.join(self.la_codes) or 'no local authority'}, not {', '.join(foreign)}."


def valid_la_codes(value: object) -> bool:
    """Whether `value` is a valid `la_codes` claim: a list of distinct ONS codes of upper-tier local
    authorities of the reference table, spelt as the table spells them (`E08000003`)."""
    if not isinstance(value, list) or len(value) > len(local_authorities()):
        return False
    known = {la.code for la in local_authorities()}
    return all(isinstance(c, str) and c in known for c in value) and len(set(value)) == len(value)


CLOCK_LEEWAY_SECONDS = 60
DEFAULT_MAX_TOKEN_SECONDS = 24 * 3600


INVALID = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class TokenVerifier:
    """Verifies a bearer token: an issuer's (`ICTG_AUTH_ISSUERS`: ES256/RS256, against its JWKS, its
    claims mapped if it is a staff provider), or in development only an HS256 token signed with
    `ICTG_AUTH_SECRET`. Anything else is refused: `alg: none`, HS256 outside development, an issuer not
    configured, a key its issuer does not publish."""

    def __init__(
        self,
        *,
        secret: str,
        audience: str = "ictg",
        issuers: Sequence[IssuerConfig] = (),
        development: bool = True,
        max_token_seconds: int = DEFAULT_MAX_TOKEN_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not issuers and not development:
            raise ValueError(
                "no token issuer is configured: set ICTG_AUTH_ISSUERS (or ICTG_AUTH_DEVELOPMENT=true on a development "
                "stack, to accept tokens signed with ICTG_AUTH_SECRET)"
            )
        self.secret = secret
        self.audience = audience
        self.development = development
        self.max_token_seconds = max_token_seconds
        self.issuers = {c.issuer: IssuerKeys(c, transport=transport) for c in issuers}

    async def authenticate(self, token: str) -> Actor:
        """The token's actor, fetching its issuer's keys if this process does not hold its key yet."""
        return self._verify(token, await self._key(token, fetch=True))

    def verify(self, token: str) -> Actor:
        """As `authenticate`, with the keys already held (an HS256 token in development needs none)."""
        return self._verify(token, self._key_now(token))

    def _peek(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(f"Invalid token: {_why(exc)}.", headers=INVALID) from None
        return header, claims

    def _issuer_of(self, token: str) -> tuple[IssuerKeys | None, str, str]:
        """(the issuer's keys, or None for a development HS256 token; the algorithm; the kid)."""
        header, claims = self._peek(token)
        alg = header.get("alg")
        if alg == "HS256":
            if not self.development:
                raise Unauthorized(
                    "Invalid token: shared-secret (HS256) tokens are accepted only in development; get one from the "
                    "token service (POST /oauth2/token).",
                    headers=INVALID,
                )
            return None, alg, ""
        iss = claims.get("iss")
        keys = self.issuers.get(iss) if isinstance(iss, str) else None
        if alg not in ASYMMETRIC or (keys is not None and alg not in keys.config.algorithms):
            raise Unauthorized(f"Invalid token: {_why(jwt.InvalidAlgorithmError())}.", headers=INVALID)
        if keys is None:
            raise Unauthorized("Invalid token: its issuer (iss) is not one this service trusts.", headers=INVALID)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("Invalid token: it names no key (kid).", headers=INVALID)
        return keys, alg, kid

    async def _key(self, token: str, *, fetch: bool) -> tuple[IssuerKeys | None, Any, str]:
        keys, alg, kid = self._issuer_of(token)
        if keys is None:
            return None, self.secret, alg
        try:
            found = await keys.key(kid)
        except UnknownKey:
            raise Unauthorized(
                "Invalid token: it is signed by a key its issuer does not publish.", headers=INVALID
            ) from None
        return keys, _keyed(found, alg), alg

    def _key_now(self, token: str) -> tuple[IssuerKeys | None, Any, str]:
        keys, alg, kid = self._issuer_of(token)
        if keys is None:
            return None, self.secret, alg
        found = keys.get(kid)
        if found is None:
            raise Unauthorized("Invalid token: it is signed by a key its issuer does not publish.", headers=INVALID)
        return keys, _keyed(found, alg), alg

    def _verify(self, token: str, found: tuple[IssuerKeys | None, Any, str]) -> Actor:
        keys, key, alg = found
        config = keys.config if keys is not None else None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=(config.audience if config is not None else None) or self.audience,
                issuer=config.issuer if config is not None else None,
                # `iat` is checked below, with a leeway for clock drift that `exp` does not get.
                options={"require": ["exp", "iat", "sub", "aud"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.", headers=INVALID) from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("The token is not for this service (audience).", headers=INVALID) from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthorized(f"Invalid token: {_why(exc)}.", headers=INVALID) from None
        if config is not None:
            claims = config.mapped(claims)
        return self._actor(claims)

    def _actor(self, claims: dict[str, Any]) -> Actor:
        scope = claims.get("scope", "")
        regions = claims.get("regions") or []
        la_codes = claims.get("la_codes") or []
        org = [claims.get("org_type"), claims.get("org_name")]
        if (
            not isinstance(scope, str)
            or not isinstance(regions, list)
            or not all(isinstance(r, str) and len(r) <= 60 for r in regions)
            or not valid_la_codes(la_codes)
            or len(str(claims["sub"])) > 200
            or not all(o is None or (isinstance(o, str) and len(o) <= 200) for o in org)
        ):
            raise Unauthorized("Invalid token claims.", headers=INVALID)
        self._check_lifetime(claims)
        service = claims.get("ictg_service") is True and str(claims["sub"]).startswith("service:")
        return Actor(
            sub=str(claims["sub"]),
            scopes=frozenset(scope.split()),
            org_type=claims.get("org_type"),
            org_name=claims.get("org_name"),
            regions=tuple(str(r) for r in regions),
            la_codes=tuple(la_codes),
            service=service,
            issuer=str(claims["iss"]) if isinstance(claims.get("iss"), str) else None,
        )

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        iat, exp = claims["iat"], claims["exp"]
        invalid = INVALID
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (iat, exp)):
            raise Unauthorized("Invalid token: iat and exp must be numbers.", headers=invalid)
        if iat > time.time() + CLOCK_LEEWAY_SECONDS:
            raise Unauthorized("Invalid token: it was issued in the future (iat).", headers=invalid)
        if exp - iat > self.max_token_seconds:
            raise Unauthorized(
                f"Invalid token: it lives longer than {self.max_token_seconds} seconds (exp - iat); "
                "ask for a shorter-lived one.",
                headers=invalid,
            )


def _keyed(found: jwt.PyJWK, alg: str) -> Any:
    """The key to verify with, if the token's algorithm is the key's own: the header never chooses how a
    key is used (an RS256 header naming an EC key is refused, not tried)."""
    if found.algorithm_name != alg:
        raise Unauthorized(f"Invalid token: {_why(jwt.InvalidAlgorithmError())}.", headers=INVALID)
    return found.key


def mint_token(
    *,
    secret: str,
    sub: str,
    scopes: list[str] | tuple[str, ...],
    org_type: str | None = None,
    org_name: str | None = None,
    regions: list[str] | None = None,
    la_codes: list[str] | None = None,
    audience: str = "ictg",
    ttl_seconds: int = 12 * 3600,
    service: bool = False,
) -> str:
    """An HS256 token signed with the platform's own secret.

    `la_codes` (a council's token, `org_type` `local_authority`): the ONS codes it answers for, each
    a code of `ictg_common.reference` (a ValueError otherwise, as the verifier would refuse it).

    `service=True` marks a platform service (claim `ictg_service`, exempt from the rate limit); its
    `sub` must then be `service:<name>`. Keep `ttl_seconds` within `ICTG_AUTH_MAX_TOKEN_SECONDS`.
    """
    if service and not sub.startswith("service:"):
        raise ValueError("a service token's sub is service:<name>")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
        "scope": " ".join(scopes),
    }
    if org_type:
        claims["org_type"] = org_type
    if org_name:
        claims["org_name"] = org_name
    if regions is not None:
        claims["regions"] = regions
    if la_codes is not None:
        if not valid_la_codes(la_codes):
            raise ValueError(f"la_codes must be distinct ONS codes of upper-tier local authorities: {la_codes}")
        claims["la_codes"] = la_codes
    if service:
        claims["ictg_service"] = True
    return jwt.encode(claims, secret, algorithm="HS256")


class RateLimiter:
    """Token bucket per caller (its principal: issuer, organisation and `sub`), in this process alone:
    `per_minute` sustained, bursts up to the same.

    A service limits through `ictg_common.ratelimit.SharedRateLimiter` (one bucket across replicas, in
    its database), which falls back on this one while its database is down.
    """

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """0 if allowed, else the seconds to wait."""
        if self.capacity <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > 100_000:  # forget idle callers rather than grow without bound
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}
        return 0.0


def _why(exc: Exception) -> str:
    """What is wrong with a token, in words a developer can act on (not the decoder's internals)."""
    if isinstance(exc, jwt.InvalidSignatureError):
        return "its signature does not verify (signed with another key or secret?)"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the claim {exc.claim!r} is missing (needed: exp, iat, sub, aud)"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "it is not valid yet (nbf)"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "it is signed with an algorithm this service does not accept"
    if isinstance(exc, jwt.DecodeError | ValueError | UnicodeError):
        return "it is not a JWT (three base64url parts separated by dots, after 'Bearer ')"
    return str(exc)


async def current_actor(request: Request) -> Actor:
    # Async, so FastAPI does not hand it to a worker thread on every request (measured on intake's
    # POST path); only a JWKS verifier, which may fetch keys over the network, runs in a thread.
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer token is required.", headers={"WWW-Authenticate": "Bearer"})
    from .runtime import runtime_of  # the runtime's types import this module

    runtime = runtime_of(request.app)
    actor = await runtime.verifier.authenticate(token.strip())
    above = above_ceiling(actor)
    if above:
        await _audit_ceiling(runtime, request, actor, above)
        raise ScopeAboveCeiling(
            f"A token of organisation type {actor.org_type!r} may not hold scope {', '.join(above)}: refused whatever "
            "issued it (scopes above the ceiling of an organisation's type are the ICTG service's own)."
        )
    # Platform services (claim check, reconciliation) are not throttled: they follow the event rate.
    # Only the verified claim counts (module docstring), never a `sub` that merely looks like one.
    if not actor.service and (wait := await runtime.limiter.take(actor.principal_key)):
        raise TooManyRequests(
            "Too many requests from this client; slow down.", headers={"Retry-After": str(int(wait) + 1)}
        )
    request.state.actor = actor
    return actor


async def _audit_ceiling(runtime: Runtime, request: Request, actor: Actor, above: list[str]) -> None:
    """A token refused for its scopes is audited like any refusal, in the service's own audit table."""
    from .audit import record_refusal  # audit imports this module

    await record_refusal(runtime.sessionmaker, schema=runtime.schema, actor=actor, action="token.scope_above_ceiling",
                         resource=request.url.path[:200], reason=" ".join(above)[:1000])  # fmt: skip


class ScopeAboveCeiling(Forbidden):
    title, slug = "Scope above the organisation's ceiling", "scope-above-ceiling"


def above_ceiling(actor: Actor) -> list[str]:
    """The scopes `actor` holds above its organisation type's ceiling (none for the platform's services)."""
    allowed = None if actor.service else ceiling(actor.org_type)
    return [] if allowed is None else sorted(actor.scopes - allowed)


current_actor.ictg_authenticates = True  # type: ignore[attr-defined]  # for the OpenAPI security (apidocs)


CurrentActor = Annotated[Actor, Depends(current_actor)]


@dataclass(frozen=True)
class Scopes:
    """Which scopes admit a token to an operation, by audience: a council's token (`org_type`
    `local_authority`) is judged by `council` (None: by `others`, like any token), every other token by
    `others`; an empty tuple admits no token of that audience. The one statement of an operation's access by
    scope: the check that enforces it and the OpenAPI document (`apidocs`) both read it, so /docs cannot
    list a scope that the check refuses."""

    others: tuple[str, ...]
    council: tuple[str, ...] | None = None

    def of(self, actor: Actor) -> tuple[str, ...]:
        """The scopes of which `actor` needs one."""
        return self.council if actor.council and self.council is not None else self.others

    def admits(self, actor: Actor) -> bool:
        return any(actor.has(s) for s in self.of(actor))

    def refusal(self, actor: Actor) -> str:
        """The 403's words for `actor`, whom `admits` refused."""
        if needed := self.of(actor):
            return f"This needs scope {' or '.join(needed)}."
        if actor.council:
            return "A council's token may not do this: a council reads its own children and files its own identifiers."
        return "This is for a council's token (org_type local_authority, claim la_codes)."

    @property
    def listed(self) -> list[str]:
        """Every scope that admits some token, others' first: what the OpenAPI document lists."""
        return list(dict.fromkeys((*self.others, *(self.council or ()))))


def enforces(rule: Scopes) -> Any:
    """Decorator of a dependency that checks `rule` itself (`rule.admits`, with a refusal of its own, e.g.
    audited): the OpenAPI document lists the rule's scopes for every operation that depends on it."""

    def mark(dependency: Any) -> Any:
        dependency.ictg_rule = rule  # read by apidocs
        return dependency

    return mark


def require(*scopes: str, council: tuple[str, ...] | None = None) -> Any:
    """Dependency: the caller must hold at least one of `scopes`; a council's token one of `council` instead,
    when given (`()`: no council's token). The rule (`Scopes`) is what the OpenAPI document lists."""
    rule = Scopes(scopes, council)

    @enforces(rule)
    async def check(actor: CurrentActor) -> Actor:
        if not rule.admits(actor):
            raise Forbidden(rule.refusal(actor))
        return actor

    return Depends(check)


def main(argv: list[str] | None = None) -> int:
    from .settings import ServiceSettings

    parser = argparse.ArgumentParser(
        prog="ictg-token",
        description="Mint an HS256 development token, signed with ICTG_AUTH_SECRET, for tests and development stacks "
        "(make run). Services accept it only when they run with ICTG_AUTH_DEVELOPMENT=true; integrators and "
        "production systems get their tokens from the token service instead (POST /oauth2/token with their client "
        "id and secret: OAuth 2.0 client credentials).",
    )
    parser.add_argument("--sub", help="default: one per organisation, dev:<org-type>:<org-name>")
    parser.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        help="repeat for several; default: all the organisation type may hold (for a council: la:read, la:write)",
    )
    parser.add_argument("--org-type", default=STAFF, help=f"default {STAFF} (the ICTG service's own staff); police, "
                        "local_authority, ngo, … for an outside organisation, whose scopes are capped by its type")  # fmt: skip
    parser.add_argument("--org-name", default="ICTG service")
    parser.add_argument("--region", action="append", help="repeat; default: every region (none for a council)")
    parser.add_argument(
        "--la-code",
        action="append",
        type=_la_code,
        help="a council's ONS code (claim la_codes), e.g. E08000003; repeat for several; needs --org-type "
        "local_authority",
    )
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds (at most ICTG_AUTH_MAX_TOKEN_SECONDS)")
    args = parser.parse_args(argv)
    if os.environ.get("ICTG_AUTH_DEVELOPMENT", "").lower() not in ("1", "true", "yes", "on"):
        parser.error("development tokens are for development stacks and tests: run with ICTG_AUTH_DEVELOPMENT=true "
                     "(services outside development refuse them; get a token from the token service instead)")  # fmt: skip
    settings = ServiceSettings()
    if not 0 < args.ttl <= settings.auth_max_token_seconds:
        parser.error(f"--ttl must be between 1 and {settings.auth_max_token_seconds} (ICTG_AUTH_MAX_TOKEN_SECONDS)")
    from .reference import REGION_SLUGS

    council = args.org_type == "local_authority"
    if council and not args.la_code:
        parser.error("a council's token (--org-type local_authority) needs at least one --la-code")
    if args.la_code and not council:
        parser.error("--la-code is for a council's token: add --org-type local_authority")
    if args.la_code and len(set(args.la_code)) != len(args.la_code):
        parser.error("--la-code: each code once")
    # A council is not a reader of regions: by default its token holds the council scopes
    # and no region, so nothing region-based opens to it.
    allowed = ceiling(args.org_type)
    default_scopes = ["la:read", "la:write"] if council else [s for s in SCOPES if allowed is None or s in allowed]
    above = sorted(set(args.scope or ()) - allowed) if allowed is not None else []
    if above:
        parser.error(
            f"an organisation of type {args.org_type} may not hold {', '.join(above)} (every service refuses it)"
        )
    # Each organisation's token its own sub by default: two organisations never share one by accident.
    sub = args.sub or f"dev:{args.org_type}:{'-'.join(args.org_name.lower().split())}"
    default_regions: list[str] = [] if council else list(REGION_SLUGS)
    print(
        mint_token(
            secret=settings.auth_secret,
            sub=sub,
            scopes=args.scope or default_scopes,
            org_type=args.org_type,
            org_name=args.org_name,
            regions=args.region or default_regions,
            la_codes=args.la_code,
            audience=settings.auth_audience,
            ttl_seconds=args.ttl,
        )
    )
    return 0


def _la_code(value: str) -> str:
    from .reference import local_authority

    la = local_authority(value)
    if la is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not the ONS code of an upper-tier local authority")
    return la.code


if __name__ == "__main__":
    sys.exit(main())
