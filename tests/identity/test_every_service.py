"""Every service, outside development, accepts the token service's tokens (fetched from its JWKS over
the network) and refuses the rest: a key its issuer does not publish, `alg: none`, HS256, an issuer
it was not told to trust. Keys rotate under load with no refused request, and an integrator's own
OAuth client library gets a token and files a referral."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwk
from joserfc import jwt as jose_jwt
from pydantic import SecretStr

from ictg_common.auth import mint_token
from tests.support.factories import referral_body
from tests.support.identity_harness import clients_fixture, production, token_service_fixture  # noqa: F401
from tests.support.platform import SECRET, serve

GRANT = {"grant_type": "client_credentials"}
# Each service, a read its client may make, and which development client makes it.
DOORS = {
    "intake": ("/v1/referrals?limit=1", "POLICE"),
    "cases": ("/v1/cases?limit=1", "STAFF"),
    "metrics": ("/v1/releases", "POLICE"),
    "webhooks": ("/v1/webhooks/subscriptions", "POLICE"),
    "identity": ("/v1/clients", "STAFF"),
}


def app_of(name: str, settings: dict[str, Any]) -> Any:
    if name == "intake":
        from ictg_intake.app import create_app as intake
        from ictg_intake.settings import IntakeSettings

        return intake(IntakeSettings(**settings))
    if name == "cases":
        from ictg_cases.app import create_app as cases
        from ictg_cases.settings import CasesSettings

        return cases(CasesSettings(**settings, intake_token="unused", sla_check_seconds=0, reconcile_seconds=0))
    if name == "metrics":
        from ictg_metrics.app import create_app as metrics
        from ictg_metrics.settings import MetricsSettings

        return metrics(MetricsSettings(**settings, cases_token="unused", release_check_seconds=0))
    if name == "webhooks":
        from ictg_webhooks.app import create_app as webhooks
        from ictg_webhooks.settings import WebhooksSettings

        return webhooks(WebhooksSettings(**settings))
    from ictg_identity.app import create_app as identity
    from ictg_identity.settings import IdentitySettings

    return identity(
        IdentitySettings(**settings, issuer=settings["auth_issuers"][0]["issuer"], key_secret=SecretStr("k" * 20))
    )


async def issued(url: str, client: tuple[str, str], **form: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(f"{url}/oauth2/token", data=GRANT | form, auth=client)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


def forged(issuer: str, *, alg: str = "ES256", kid: str = "rogue") -> str:
    """A token claiming every scope, as an attacker would make it."""
    now = int(time.time())
    claims = {"iss": issuer, "sub": "dev-staff", "aud": "ictg", "iat": now, "exp": now + 600, "org_type": "ictg",
              "org_name": "ICTG service", "scope": "cases:read referrals:read referrals:write metrics:read "
              "webhooks:manage clients:admin", "regions": ["london"], "client_id": "dev-staff"}  # fmt: skip
    if alg == "none":
        part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
    key = jwk.ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)
    return jose_jwt.encode({"alg": alg, "kid": kid}, claims, key)


@pytest.mark.parametrize("name", list(DOORS))
async def test_each_service_accepts_the_token_services_tokens_and_refuses_forgeries(
    name: str, shared_settings: dict[str, Any], token_service: str, clients: dict[str, tuple[str, str]]
) -> None:
    path, who = DOORS[name]
    settings = production(shared_settings, token_service)
    async with serve(app_of(name, settings)) as service:
        good = await issued(token_service, clients[who])
        r = await service.get(path, headers={"Authorization": f"Bearer {good}"})
        assert r.status_code == 200, r.text
        real_kid = jwt.get_unverified_header(good)["kid"]
        attempts = {
            "a key its issuer does not publish": forged(token_service),
            "a key posing as the real one": forged(token_service, kid=real_kid),
            "alg none": forged(token_service, alg="none"),
            "HS256 with the service's own secret": mint_token(secret=SECRET, sub="dev-staff", scopes=["cases:read"],
                                                              org_type="ictg", org_name="ICTG service"),
            "an issuer it does not trust": forged("https://idp.attacker.example"),
            "the real token, its payload edited": _edited(good),
            "an RS256 header naming the real EC key": _realg(good, "RS256"),
            "an HS256 header naming the real EC key": _realg(good, "HS256"),
        }  # fmt: skip
        for why, token in attempts.items():
            refused = await service.get(path, headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401, (why, refused.text)
            assert refused.headers["content-type"] == "application/problem+json", why
        hs256 = attempts["HS256 with the service's own secret"]
        hs = await service.get(path, headers={"Authorization": f"Bearer {hs256}"})
        assert "only in development" in hs.json()["detail"]


def _realg(token: str, alg: str) -> str:
    """`token` claiming another algorithm for the same key (signature left as it was)."""
    header, payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))) | {"alg": alg}
    return f"{base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b'=').decode()}.{payload}.{signature}"


def _edited(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] += " cases:admin"
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{edited}.{signature}"


async def test_keys_rotate_under_load_with_no_refused_request(
    shared_settings: dict[str, Any], token_service: str, clients: dict[str, tuple[str, str]]
) -> None:
    """A client asking for a token and calling intake without pause, through two rotations by command."""
    async with serve(app_of("intake", production(shared_settings, token_service))) as intake:
        first = await issued(token_service, clients["POLICE"])
        statuses: list[int] = []
        kids: set[str] = set()
        stop = asyncio.Event()

        async def load() -> None:
            while not stop.is_set():
                token = await issued(token_service, clients["POLICE"], scope="referrals:write")
                kids.add(jwt.get_unverified_header(token)["kid"])
                r = await intake.get("/v1/referrals?limit=1", headers={"Authorization": f"Bearer {token}"})
                statuses.append(r.status_code)

        env = {**os.environ, "ICTG_DATABASE_URL": shared_settings["database_url"], "ICTG_AUTH_DEVELOPMENT": "true"}
        runner = asyncio.create_task(load())
        for _ in range(2):
            await asyncio.sleep(1.5)
            rotate = await asyncio.create_subprocess_exec(sys.executable, "-m", "ictg_identity.keys", "rotate", env=env,
                                                          stdout=asyncio.subprocess.DEVNULL)  # fmt: skip
            assert await rotate.wait() == 0
        await asyncio.sleep(1.5)
        stop.set()
        await runner
        late = await intake.get("/v1/referrals?limit=1", headers={"Authorization": f"Bearer {first}"})
    assert len(kids) == 3, kids  # the first key and the two that became current
    assert len(statuses) > 30 and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert late.status_code == 200  # a token signed before both rotations still verifies until it expires


async def test_an_integrators_oauth_library_gets_a_token_and_files_a_referral(
    shared_settings: dict[str, Any], token_service: str, clients: dict[str, tuple[str, str]]
) -> None:
    intake_app = app_of("intake", production(shared_settings, token_service))
    async with serve(intake_app):
        police_id, police_secret = clients["POLICE"]
        mounts = {"http://intake.test": httpx.ASGITransport(app=intake_app)}  # intake in process, the token service not
        async with AsyncOAuth2Client(
            client_id=police_id, client_secret=police_secret, scope="referrals:write", mounts=mounts,
            token_endpoint=f"{token_service}/oauth2/token",
        ) as client:  # fmt: skip
            token = await client.fetch_token(grant_type="client_credentials")
            assert token["token_type"] == "Bearer" and token["expires_in"] == 900
            r = await client.post("http://intake.test/v1/referrals", json=referral_body())
            assert r.status_code == 201, r.text
            mine = await client.get(f"http://intake.test/v1/referrals/{r.json()['id']}")
            assert mine.status_code == 200 and mine.json()["id"] == r.json()["id"]
