"""Bearer JWT authentication and scope checks (DESIGN.md §11), plus a CLI that mints dev tokens.

Development: HS256 with `ICTG_AUTH_SECRET`. Production: RS256/ES256 keys from `ICTG_AUTH_JWKS_URL`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from .errors import Forbidden, TooManyRequests, Unauthorized

SCOPES = (
    "referrals:write", "referrals:read", "referrals:import",
    "cases:read", "cases:write", "cases:admin",
    "metrics:read", "metrics:read:unsuppressed", "metrics:admin",
    "audit:read",
)  # fmt: skip


@dataclass(frozen=True)
class Actor:
    sub: str
    scopes: frozenset[str]
    org_type: str | None = None
    org_name: str | None = None
    regions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def organisation(self) -> tuple[str | None, str | None]:
        return (self.org_type, self.org_name)

    def has(self, scope: str) -> bool:
        return scope in self.scopes


class TokenVerifier:
    def __init__(self, *, secret: str, audience: str = "ictg", jwks_url: str | None = None) -> None:
        self.secret = secret
        self.audience = audience
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None

    def verify(self, token: str) -> Actor:
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256", "ES256"]
            else:
                key, algorithms = self.secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized(
                "The token has expired.", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(
                "The token is not for this service (audience).",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(
                f"Invalid token: {exc}.", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
        scope = claims.get("scope", "")
        regions = claims.get("regions") or []
        org = [claims.get("org_type"), claims.get("org_name")]
        if (
            not isinstance(scope, str)
            or not isinstance(regions, list)
            or not all(isinstance(r, str) and len(r) <= 60 for r in regions)
            or len(str(claims["sub"])) > 200
            or not all(o is None or (isinstance(o, str) and len(o) <= 200) for o in org)
        ):
            raise Unauthorized("Invalid token claims.", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Actor(
            sub=str(claims["sub"]),
            scopes=frozenset(scope.split()),
            org_type=claims.get("org_type"),
            org_name=claims.get("org_name"),
            regions=tuple(str(r) for r in regions),
        )


def mint_token(
    *,
    secret: str,
    sub: str,
    scopes: list[str] | tuple[str, ...],
    org_type: str | None = None,
    org_name: str | None = None,
    regions: list[str] | None = None,
    audience: str = "ictg",
    ttl_seconds: int = 12 * 3600,
) -> str:
    """An HS256 development token."""
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
    return jwt.encode(claims, secret, algorithm="HS256")


class RateLimiter:
    """Token bucket per caller (`sub`), per process: `per_minute` sustained, bursts up to the same.

    Each replica limits on its own, so a deployment of N replicas admits up to N times the rate;
    it protects a service from one runaway client, not a precise quota.
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


def current_actor(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer token is required.", headers={"WWW-Authenticate": "Bearer"})
    verifier: TokenVerifier = request.app.state.verifier
    actor = verifier.verify(token.strip())
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    # Platform services (claim check, reconciliation) are not throttled: they follow the event rate.
    if limiter is not None and not actor.sub.startswith("service:") and (wait := limiter.take(actor.sub)):
        raise TooManyRequests(
            "Too many requests from this client; slow down.", headers={"Retry-After": str(int(wait) + 1)}
        )
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require(*scopes: str) -> Any:
    """Dependency: the caller must hold at least one of `scopes`."""

    def check(actor: CurrentActor) -> Actor:
        if not any(actor.has(s) for s in scopes):
            raise Forbidden(f"This needs scope {' or '.join(scopes)}.")
        return actor

    return Depends(check)


def main(argv: list[str] | None = None) -> int:
    from .settings import ServiceSettings

    parser = argparse.ArgumentParser(prog="ictg-token", description="Mint a development JWT (HS256, ICTG_AUTH_SECRET).")
    parser.add_argument("--sub", default="dev-user")
    parser.add_argument("--scope", action="append", choices=SCOPES, help="repeat for several; default: all")
    parser.add_argument("--org-type", default="police")
    parser.add_argument("--org-name", default="Development Police")
    parser.add_argument("--region", action="append", help="repeat; default: every region")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    from .reference import REGION_SLUGS

    print(
        mint_token(
            secret=settings.auth_secret,
            sub=args.sub,
            scopes=args.scope or list(SCOPES),
            org_type=args.org_type,
            org_name=args.org_name,
            regions=args.region or list(REGION_SLUGS),
            audience=settings.auth_audience,
            ttl_seconds=args.ttl,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
