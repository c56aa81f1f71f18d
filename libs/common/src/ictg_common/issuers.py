"""The token issuers a service trusts (`ICTG_AUTH_ISSUERS`), and their signing keys, fetched from each
issuer's JWKS and cached.

An issuer is the platform's own token service (machine clients: police forces', councils' and
analysts' systems, and the platform's services) or a staff identity provider (OIDC, such as the
service's Entra ID), whose claims are mapped to the platform's by configuration:

    ICTG_AUTH_ISSUERS='[
      {"issuer": "https://identity.ictg.example"},
      {"issuer": "https://login.microsoftonline.com/<tenant>/v2.0",
       "jwks_url": "https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys",
       "audience": "api://ictg",
       "org_type": "ictg", "org_name": "ICTG service",
       "roles_claim": "roles",
       "roles": {"ICTG.Guardian": ["cases:read", "cases:write"], "ICTG.Analyst": ["metrics:query"]},
       "regions_claim": "ictg_regions"}
    ]'

Keys are fetched once and kept: a token whose `kid` the cache does not hold makes one refetch (at
most one a second per issuer, so a flood of forged kids costs one request a second), and the cache
is refreshed at the first verification after `REFRESH_SECONDS`. No request waits on the network
unless its key is new to this process (or the cache is that old). The platform's token service
publishes its next key a whole rotation ahead, so its tokens never meet an unknown kid at all unless
it rotates twice between two refreshes.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Self

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, model_validator

REFETCH_SECONDS = 1.0  # an unknown kid refetches at most this often per issuer
REFRESH_SECONDS = 600.0  # keys are refreshed at least this often (retired keys drop out)
ASYMMETRIC = ("ES256", "RS256")


class IssuerConfig(BaseModel):
    """One trusted issuer. For the platform's own token service only `issuer` is needed: its tokens
    carry the platform's claims. For a staff provider, the fixed organisation and the claim mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1)
    jwks_url: str | None = None  # default: <issuer>/.well-known/jwks.json
    algorithms: tuple[str, ...] = ASYMMETRIC
    audience: str | None = None  # default: ICTG_AUTH_AUDIENCE
    # Claim mapping (a staff provider). Unset: the token's own `org_type`, `org_name`, `scope`, `regions`.
    org_type: str | None = None
    org_name: str | None = None
    roles_claim: str | None = None  # a list claim whose values `roles` maps to scopes
    roles: dict[str, list[str]] = Field(default_factory=dict)
    regions_claim: str = "regions"

    @model_validator(mode="after")
    def _mapping_whole(self) -> Self:
        # A mapping without the organisation would pass the provider's own claims through: refused.
        if (self.roles or self.roles_claim or self.org_type or self.org_name) and not (self.org_type and self.org_name):
            raise ValueError(f"issuer {self.issuer}: a staff provider's mapping names org_type and org_name")
        return self

    @property
    def keys_url(self) -> str:
        return self.jwks_url or f"{self.issuer.rstrip('/')}/.well-known/jwks.json"

    @property
    def maps_claims(self) -> bool:
        return self.org_type is not None

    def mapped(self, claims: dict[str, Any]) -> dict[str, Any]:
        """`claims` in the platform's terms: a staff provider's roles become scopes, its organisation
        is the configured one (never the token's), and a machine client's claims are kept."""
        if not self.maps_claims:
            return claims
        out = {k: v for k, v in claims.items() if k not in ("org_type", "org_name", "scope", "regions", "la_codes",
                                                            "ictg_service")}  # fmt: skip
        roles = claims.get(self.roles_claim or "", []) if self.roles_claim else []
        scopes: list[str] = []
        if isinstance(roles, list):
            for role in roles:
                scopes += [s for s in self.roles.get(role, []) if s not in scopes] if isinstance(role, str) else []
        out.update(org_type=self.org_type, org_name=self.org_name, scope=" ".join(scopes))
        out["regions"] = claims.get(self.regions_claim, [])
        return out


class UnknownKey(Exception):
    """No key of the issuer has the token's `kid` (after a refetch)."""


class IssuerKeys:
    """One issuer's signing keys, by `kid`, fetched from its JWKS."""

    def __init__(self, config: IssuerConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._transport = transport

    def get(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key `kid`, refetching the JWKS once if it is new (or the cache is old)."""
        stale = time.monotonic() - self._fetched_at > REFRESH_SECONDS
        if kid not in self._keys or stale:
            await self.refresh(force=stale)
        found = self._keys.get(kid)
        if found is None:
            raise UnknownKey(kid)
        return found

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < REFETCH_SECONDS:
                return
            self._fetched_at = time.monotonic()
            try:
                async with httpx.AsyncClient(transport=self._transport, timeout=5.0) as client:
                    response = await client.get(self.config.keys_url)
                    response.raise_for_status()
                    body = response.json()
            except (httpx.HTTPError, ValueError):
                return  # keep the keys we have: an outage of the issuer must not refuse tokens it signed
            keys: dict[str, jwt.PyJWK] = {}
            listed = body.get("keys") if isinstance(body, dict) else None
            for data in listed if isinstance(listed, list) else []:
                if not isinstance(data, dict) or "d" in data or not isinstance(data.get("kid"), str):
                    continue  # a private key, or one with no kid, is never used to verify
                try:
                    keys[data["kid"]] = jwt.PyJWK(data)
                except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                    continue
            if keys:
                self._keys = keys


def parse_issuers(value: object) -> list[IssuerConfig]:
    """`ICTG_AUTH_ISSUERS`: a JSON list of issuers (or a list already)."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if not isinstance(value, list):
        raise ValueError("ICTG_AUTH_ISSUERS is a JSON list of issuers")
    configs = [v if isinstance(v, IssuerConfig) else IssuerConfig.model_validate(v) for v in value]
    if len({c.issuer for c in configs}) != len(configs):
        raise ValueError("ICTG_AUTH_ISSUERS names an issuer twice")
    return configs
