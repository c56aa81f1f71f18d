"""Trusted issuers: keys fetched from each issuer's JWKS once and cached (one refetch for a new kid, at
most one per interval however many forged kids arrive), a staff provider's claims mapped to the
platform's by configuration, and its own claims never trusted for what the mapping decides."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwk
from joserfc import jwt as jose_jwt

from ictg_common import issuers
from ictg_common.auth import TokenVerifier
from ictg_common.errors import Unauthorized
from ictg_common.issuers import IssuerConfig, parse_issuers

STAFF_IDP = "https://login.example/tenant/v2.0"


class Jwks:
    """A JWKS endpoint served in process, counting its fetches; keys can be added as an issuer rotates."""

    def __init__(self) -> None:
        self.keys = [jwk.ECKey.generate_key("P-256", parameters={"kid": "a"}, private=True)]
        self.fetches = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in self.keys]})

    def sign(self, claims: dict[str, Any], kid: str = "a") -> str:
        key = next(k for k in self.keys if k.kid == kid)
        now = int(time.time())
        body = {"iss": STAFF_IDP, "aud": "api://ictg", "sub": "staff-1", "iat": now, "exp": now + 600} | claims
        return jose_jwt.encode({"alg": "ES256", "kid": kid}, body, key)


@pytest.fixture
def idp() -> Iterator[Jwks]:
    yield Jwks()


def staff_verifier(idp: Jwks) -> TokenVerifier:
    config = IssuerConfig(
        issuer=STAFF_IDP, jwks_url=f"{STAFF_IDP}/keys", audience="api://ictg", org_type="ictg", org_name="ICTG service",
        roles_claim="roles", roles={"ICTG.Guardian": ["cases:read", "cases:write"], "ICTG.Analyst": ["metrics:query"]},
        regions_claim="ictg_regions",
    )  # fmt: skip
    return TokenVerifier(secret="unused", issuers=[config], development=False,
                         transport=httpx.MockTransport(idp.handler))  # fmt: skip


async def test_a_staff_providers_roles_become_scopes_and_its_organisation_is_the_configured_one(idp: Jwks) -> None:
    verifier = staff_verifier(idp)
    actor = await verifier.authenticate(idp.sign({
        "roles": ["ICTG.Guardian", "Unrelated.Role", 7], "ictg_regions": ["london"],
        # What the mapping decides is never read from the provider's token, whoever put it there.
        "scope": "clients:admin metrics:read:unsuppressed", "org_type": "police", "ictg_service": True,
        "la_codes": ["E08000003"],
    }))  # fmt: skip
    assert actor.scopes == {"cases:read", "cases:write"}
    assert actor.organisation == ("ictg", "ICTG service") and actor.regions == ("london",)
    assert not actor.service and actor.la_codes == () and actor.issuer == STAFF_IDP
    analyst = await verifier.authenticate(idp.sign({"sub": "staff-2", "roles": ["ICTG.Analyst"]}))
    assert analyst.scopes == {"metrics:query"} and analyst.regions == ()
    with pytest.raises(Unauthorized, match="audience"):
        await verifier.authenticate(idp.sign({"aud": "ictg"}))  # the provider's tokens for another API


async def test_keys_are_fetched_once_and_again_only_for_a_new_kid(idp: Jwks, monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = staff_verifier(idp)
    for _ in range(20):
        await verifier.authenticate(idp.sign({"roles": ["ICTG.Guardian"]}))
    assert idp.fetches == 1  # no network call per request
    # The provider rotates: a token signed by its new key makes one refetch, then is accepted.
    idp.keys.append(jwk.ECKey.generate_key("P-256", parameters={"kid": "b"}, private=True))
    monkeypatch.setattr(issuers, "REFETCH_SECONDS", 0.0)
    await verifier.authenticate(idp.sign({"roles": ["ICTG.Guardian"]}, kid="b"))
    assert idp.fetches == 2
    await verifier.authenticate(idp.sign({"roles": ["ICTG.Guardian"]}, kid="a"))
    assert idp.fetches == 2


async def test_a_flood_of_forged_kids_costs_one_fetch(idp: Jwks) -> None:
    verifier = staff_verifier(idp)
    await verifier.authenticate(idp.sign({}))
    rogue = jwk.ECKey.generate_key("P-256", private=True)
    now = int(time.time())
    for n in range(50):
        forged = jose_jwt.encode({"alg": "ES256", "kid": f"forged-{n}"},
                                 {"iss": STAFF_IDP, "aud": "api://ictg", "sub": "x", "iat": now, "exp": now + 60}, rogue)  # fmt: skip
        with pytest.raises(Unauthorized, match="does not publish"):
            await verifier.authenticate(forged)
    assert idp.fetches <= 2  # the first fetch, and at most one refetch within the interval


async def test_a_jwks_of_the_wrong_shape_is_no_keys_not_a_crash(idp: Jwks) -> None:
    verifier = staff_verifier(idp)
    keys = verifier.issuers[STAFF_IDP]
    for body in ({"keys": 5}, [1, 2], {"keys": [{"kty": "EC", "kid": "x"}, 3]}, "nonsense"):
        keys._transport = httpx.MockTransport(lambda request, body=body: httpx.Response(200, json=body))
        await keys.refresh(force=True)
        with pytest.raises(Unauthorized, match="does not publish"):
            await verifier.authenticate(idp.sign({}))


async def test_an_issuer_that_is_down_keeps_the_keys_already_held(idp: Jwks) -> None:
    verifier = staff_verifier(idp)
    token = idp.sign({"roles": ["ICTG.Analyst"]})
    await verifier.authenticate(token)
    keys = verifier.issuers[STAFF_IDP]
    keys._transport = httpx.MockTransport(lambda request: httpx.Response(503))
    await keys.refresh(force=True)
    assert (await verifier.authenticate(token)).has("metrics:query")


def test_the_issuers_setting_is_a_json_list_of_distinct_issuers() -> None:
    assert parse_issuers(json.dumps([{"issuer": "https://id.example"}]))[0].keys_url == (
        "https://id.example/.well-known/jwks.json"
    )
    with pytest.raises(ValueError, match="twice"):
        parse_issuers([{"issuer": "https://id.example"}, {"issuer": "https://id.example"}])
    with pytest.raises(ValueError):
        parse_issuers([{"issuer": "https://id.example", "unknown": 1}])
    with pytest.raises(ValueError, match="names org_type and org_name"):  # else its own claims would pass through
        parse_issuers([{"issuer": "https://idp.example", "roles_claim": "roles", "roles": {"R": ["cases:read"]}}])
    with pytest.raises(ValueError, match="no token issuer"):
        TokenVerifier(secret="s", issuers=[], development=False)


def test_the_settings_read_the_issuers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from ictg_common.settings import ServiceSettings

    monkeypatch.setenv("ICTG_AUTH_ISSUERS", json.dumps([{"issuer": "https://id.example"}]))
    assert [c.issuer for c in ServiceSettings().auth_issuers] == ["https://id.example"]
    monkeypatch.setenv("ICTG_AUTH_ISSUERS", json.dumps([{"issuer": "https://id.example"}] * 2))
    with pytest.raises(ValueError, match="twice"):
        ServiceSettings()
