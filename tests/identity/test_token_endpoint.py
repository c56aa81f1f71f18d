"""The token endpoint against RFC 6749 §4.4 / §5.2, RFC 7523 and RFC 9068, as an integrator and an
attacker would meet it: both client authentications, every refusal (and its audit row)."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from joserfc import jwk
from joserfc import jwt as jose_jwt
from sqlalchemy import text

from ictg_common.auth import TokenVerifier
from ictg_common.db import create_engine
from ictg_common.issuers import IssuerConfig
from tests.support.identity_harness import (  # noqa: F401
    ISSUER,
    audit_rows,
    clients_fixture,
    identity_fixture,
    identity_settings_fixture,
    token_of,
)
from tests.support.platform import auth

GRANT = {"grant_type": "client_credentials"}


def verifier_for(identity: httpx.AsyncClient) -> TokenVerifier:
    """A service's verifier outside development, fetching the token service's keys in process."""
    transport = identity._transport  # the in-process token service
    return TokenVerifier(secret="unused", issuers=[IssuerConfig(issuer=ISSUER)], development=False,
                         transport=transport)  # fmt: skip


async def test_a_secret_gets_a_15_minute_es256_token_every_service_verifies(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]]
) -> None:
    r = await identity.post("/oauth2/token", data=GRANT, auth=clients["COUNCIL"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["scope"].split() == ["la:read", "la:write", "webhooks:manage", "metrics:read"]
    header = jwt.get_unverified_header(body["access_token"])
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt" and header["kid"]
    assert claims["exp"] - claims["iat"] == 900 and claims["iss"] == ISSUER and claims["aud"] == "ictg"
    assert claims["client_id"] == claims["sub"] == "dev-council" and len(claims["jti"]) >= 16
    assert claims["la_codes"] == ["E08000003", "E08000006"] and claims["org_type"] == "local_authority"
    assert "ictg_service" not in claims
    actor = await verifier_for(identity).authenticate(body["access_token"])
    assert actor.council and actor.la_codes == ("E08000003", "E08000006") and actor.issuer == ISSUER
    again = await token_of(identity, clients["COUNCIL"])
    assert jwt.decode(again, options={"verify_signature": False})["jti"] != claims["jti"]


async def test_scope_narrows_and_a_scope_above_the_clients_is_invalid_scope(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]], database_url: str
) -> None:
    narrowed = await identity.post("/oauth2/token", data=GRANT | {"scope": "referrals:write"}, auth=clients["POLICE"])
    assert narrowed.json()["scope"] == "referrals:write"
    above = await identity.post("/oauth2/token", data=GRANT | {"scope": "referrals:write cases:read"},
                                auth=clients["POLICE"])  # fmt: skip
    assert above.status_code == 400 and above.json()["error"] == "invalid_scope"
    assert "cases:read" in above.json()["error_description"]
    empty = await identity.post("/oauth2/token", data=GRANT | {"scope": " "}, auth=clients["POLICE"])
    assert empty.status_code == 400 and empty.json()["error"] == "invalid_scope"
    rows = await audit_rows(database_url)
    assert [(r.action, r.outcome) for r in rows] == [("token.issued", "ok"), ("token.refused", "denied"),
                                                     ("token.refused", "denied")]  # fmt: skip
    assert rows[1].actor == "dev-police" and "cases:read" in rows[1].reason


@pytest.mark.parametrize(
    ("form", "content_type", "error"),
    [
        ({"grant_type": "password", "username": "a", "password": "b"}, None, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, None, "unsupported_grant_type"),
        ({}, None, "invalid_request"),
        ("grant_type=client_credentials&grant_type=client_credentials", "application/x-www-form-urlencoded",
         "invalid_request"),
        ('{"grant_type": "client_credentials"}', "application/json", "invalid_request"),
        ("grant_type=%ZZ", "application/x-www-form-urlencoded", "unsupported_grant_type"),
    ],
)  # fmt: skip
async def test_malformed_requests_get_rfc_6749_errors_and_change_nothing(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]], form: Any, content_type: str | None, error: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    sent = {"content": form} if isinstance(form, str) else {"data": form}
    r = await identity.post("/oauth2/token", auth=clients["POLICE"], headers=headers, **sent)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == error and body["error_description"] and body["status"] == 400 and body["type"]
    assert r.headers["content-type"].startswith("application/json")


async def test_a_wrong_secret_an_unknown_client_and_no_credentials_are_401_invalid_client(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]], database_url: str
) -> None:
    police_id, secret = clients["POLICE"]
    wrong = await identity.post("/oauth2/token", data=GRANT, auth=(police_id, secret[:-1] + "x"))
    unknown = await identity.post("/oauth2/token", data=GRANT, auth=("no-such-client", secret))
    for r in (wrong, unknown):
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        assert r.headers["www-authenticate"].startswith("Basic")
    # The same words whether the client exists or not: the endpoint tells no one which ids are registered.
    assert wrong.json()["error_description"] == unknown.json()["error_description"]
    bare = await identity.post("/oauth2/token", data=GRANT)
    assert bare.status_code == 401 and "client_secret_basic" in bare.json()["error_description"]
    # The secret in the form (client_secret_post) is not a method this server takes.
    posted = await identity.post("/oauth2/token", data=GRANT | {"client_id": police_id, "client_secret": secret})
    assert posted.status_code == 401
    reasons = [r.reason for r in await audit_rows(database_url)]
    assert reasons[:2] == ["invalid_client: wrong or expired secret", "invalid_client: unknown client"]
    assert len(reasons) == 4


async def test_a_disabled_client_gets_no_new_token_at_once(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]], database_url: str
) -> None:
    staff = {"Authorization": f"Bearer {await token_of(identity, clients['STAFF'])}"}
    await token_of(identity, clients["POLICE"])
    r = await identity.post("/v1/clients/dev-police/disable", headers=staff)
    assert r.status_code == 200 and r.json()["disabled_at"]
    refused = await identity.post("/oauth2/token", data=GRANT, auth=clients["POLICE"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert (await audit_rows(database_url))[-1].reason == "invalid_client: disabled client"
    rotate = await identity.post("/v1/clients/dev-police/rotate-secret", headers=staff)
    assert rotate.status_code == 409


async def test_a_rotated_secret_overlaps_for_a_day_then_only_the_new_one_works(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]], database_url: str
) -> None:
    staff = {"Authorization": f"Bearer {await token_of(identity, clients['STAFF'])}"}
    r = await identity.post("/v1/clients/dev-police/rotate-secret", headers=staff)
    assert r.status_code == 200, r.text
    new = r.json()["client_secret"]
    assert new != clients["POLICE"][1]
    hours = (r.json()["previous_expires_at"], time.time())
    assert hours[0]
    await token_of(identity, clients["POLICE"])  # the old one, within the overlap
    await token_of(identity, ("dev-police", new))
    # A day later: move the old secret's expiry into the past, as the clock would.
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        moved = await conn.execute(text("UPDATE identity.client_secret SET expires_at = now() - interval '1 second' "
                                        "WHERE client_id = 'dev-police' AND expires_at IS NOT NULL"))  # fmt: skip
        assert moved.rowcount == 1
    await engine.dispose()
    old = await identity.post("/oauth2/token", data=GRANT, auth=clients["POLICE"])
    assert old.status_code == 401
    await token_of(identity, ("dev-police", new))
    listed = await identity.get("/v1/clients/dev-police", headers=staff)
    assert [s["expires_at"] is None for s in listed.json()["secrets"]] == [True, False]
    assert new not in listed.text and clients["POLICE"][1] not in listed.text


async def test_secrets_are_stored_only_as_digests(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]], database_url: str
) -> None:
    engine = create_engine(database_url, pool_size=1)
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT string_agg(t::text, ' ') FROM identity.client_secret t"))).scalar()
        keys = (await conn.execute(text("SELECT string_agg(private_jwk, ' ') FROM identity.signing_key"))).scalar()
    await engine.dispose()
    assert stored and all(secret not in stored for _, secret in clients.values())
    assert keys and '"d"' not in keys  # the signing keys' private parts are encrypted at rest


# --- private_key_jwt (RFC 7523) ----------------------------------------------------------------


def ec_key(kid: str = "k1") -> jwk.ECKey:
    return jwk.ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)


def assertion(key: jwk.ECKey, client_id: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/oauth2/token", "iat": now, "exp": now + 60,
            "jti": uuid.uuid4().hex} | claims  # fmt: skip
    return jose_jwt.encode({"alg": "ES256", "kid": key.kid}, {k: v for k, v in body.items() if v is not None}, key)


def jwt_form(signed: str) -> dict[str, str]:
    return GRANT | {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    "client_assertion": signed}  # fmt: skip


@pytest.fixture
async def jwt_client(identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]]) -> tuple[str, jwk.ECKey]:
    key = ec_key()
    staff = {"Authorization": f"Bearer {await token_of(identity, clients['STAFF'])}"}
    r = await identity.post("/v1/clients", headers=staff, json={
        "name": "Kent Police (signed assertions)", "org_type": "police", "org_name": "Kent Police",
        "scopes": ["referrals:write"], "auth_method": "private_key_jwt",
        "jwks": {"keys": [key.as_dict(private=False)]},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["client_secret"] is None
    return r.json()["client_id"], key


async def test_a_signed_assertion_gets_a_token(identity: httpx.AsyncClient, jwt_client: tuple[str, jwk.ECKey]) -> None:
    client_id, key = jwt_client
    r = await identity.post("/oauth2/token", data=jwt_form(assertion(key, client_id)))
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client_id and claims["org_name"] == "Kent Police"
    by_issuer = await identity.post("/oauth2/token", data=jwt_form(assertion(key, client_id, aud=ISSUER)))
    assert by_issuer.status_code == 200  # the issuer is an audience too (RFC 7523 §3)


async def test_replayed_expired_long_lived_and_foreign_assertions_are_refused(
    identity: httpx.AsyncClient, jwt_client: tuple[str, jwk.ECKey], database_url: str
) -> None:
    client_id, key = jwt_client
    now = int(time.time())
    once = assertion(key, client_id)
    assert (await identity.post("/oauth2/token", data=jwt_form(once))).status_code == 200
    refused = {
        "replayed": once,
        "expired": assertion(key, client_id, iat=now - 600, exp=now - 300),
        "lives a day": assertion(key, client_id, exp=now + 86400),
        "no jti": assertion(key, client_id, jti=None),
        "another server's": assertion(key, client_id, aud="https://elsewhere.example/token"),
        "signed by another key": assertion(ec_key("k1"), client_id),
        "sub not iss": assertion(key, client_id, iss="someone-else"),
        "another client's id": assertion(key, "dev-police"),
        "not a JWT": "not.a.jwt",
    }
    for why, signed in refused.items():
        r = await identity.post("/oauth2/token", data=jwt_form(signed))
        assert r.status_code == 401, (why, r.text)
        assert r.json()["error"] == "invalid_client", why
    rows = await audit_rows(database_url)
    assert sum(r.action == "token.refused" for r in rows) == len(refused)
    assert any("used before" in (r.reason or "") for r in rows)


async def test_the_token_endpoint_is_rate_limited_per_client(
    shared_settings: dict[str, Any], clients: dict[str, tuple[str, str]], database_url: str
) -> None:
    from ictg_identity.app import create_app
    from ictg_identity.settings import IdentitySettings

    app = create_app(IdentitySettings(**shared_settings, issuer=ISSUER, token_rate_per_client=3))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
            codes = [(await http.post("/oauth2/token", data=GRANT, auth=clients["POLICE"])).status_code
                     for _ in range(4)]  # fmt: skip
            other = await http.post("/oauth2/token", data=GRANT, auth=clients["COUNCIL"])
            wrong = [(await http.post("/oauth2/token", data=GRANT, auth=("dev-analyst", "guess"))).status_code
                     for _ in range(4)]  # fmt: skip
    assert codes == [200, 200, 200, 429] and other.status_code == 200
    assert wrong == [401, 401, 401, 429]  # guessing a secret is slowed down too
    assert (await audit_rows(database_url))[3].reason == "rate_limited"


async def test_the_metadata_follows_rfc_8414(identity: httpx.AsyncClient) -> None:
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

    r = await identity.get("/.well-known/oauth-authorization-server")
    metadata = AuthorizationServerMetadata(r.json())
    metadata.validate_issuer()
    metadata.validate_token_endpoint()
    metadata.validate_jwks_uri()
    metadata.validate_grant_types_supported()
    metadata.validate_token_endpoint_auth_methods_supported()
    metadata.validate_token_endpoint_auth_signing_alg_values_supported()
    assert r.json()["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert r.json()["grant_types_supported"] == ["client_credentials"]
    keys = (await identity.get("/.well-known/jwks.json")).json()["keys"]
    assert len(keys) == 2 and all(k["kty"] == "EC" and "d" not in k for k in keys)  # current and next, public


# --- the registry -------------------------------------------------------------------------------


async def test_only_staff_with_clients_admin_register_and_within_the_types_ceiling(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]], database_url: str
) -> None:
    body: dict[str, Any] = {
        "name": "Kent Police",
        "org_type": "police",
        "org_name": "Kent Police",
        "scopes": ["referrals:write"],
    }
    for token in (await token_of(identity, clients["POLICE"]), await token_of(identity, clients["ANALYST"])):
        r = await identity.post("/v1/clients", json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    # A police token claiming clients:admin is refused whatever signed it (the ceiling).
    forged = await identity.post("/v1/clients", json=body, headers=auth("clients:admin", org_type="police"))
    assert forged.status_code == 403 and forged.json()["type"].endswith("scope-above-ceiling")
    staff = {"Authorization": f"Bearer {await token_of(identity, clients['STAFF'])}"}
    bads: list[tuple[dict[str, Any], str]] = [
        ({"scopes": ["referrals:write", "cases:read"]}, "/scopes"),
        ({"scopes": ["no:such"]}, "/scopes"),
        ({"org_type": "local_authority", "la_codes": []}, "/la_codes"),
        ({"la_codes": ["E08000003"]}, "/la_codes"),
        ({"regions": ["atlantis"]}, "/regions"),
        ({"service": "case-api"}, "/service"),
        ({"auth_method": "private_key_jwt"}, "/jwks"),
        ({"auth_method": "private_key_jwt", "jwks": {"keys": [ec_key().as_dict(private=True)]}}, "/jwks"),
    ]
    for bad, pointer in bads:
        r = await identity.post("/v1/clients", json=body | bad, headers=staff)
        assert r.status_code == 422, (bad, r.text)
        assert pointer in [e["pointer"] for e in r.json()["errors"]], (bad, r.text)
    created = await identity.post("/v1/clients", json=body, headers=staff)
    assert created.status_code == 201 and created.json()["client_secret"]
    listed = await identity.get("/v1/clients", headers=staff)
    assert created.json()["client_id"] in [c["client_id"] for c in listed.json()["items"]]
    assert created.json()["client_secret"] not in listed.text
    token = await token_of(identity, (created.json()["client_id"], created.json()["client_secret"]))
    assert jwt.decode(token, options={"verify_signature": False})["scope"] == "referrals:write"
    assert "client.created" in [r.action for r in await audit_rows(database_url)]


# --- hostile input: refused in words, never a 500 -------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    ["Basic /w==", "Basic !!!", "Basic \xa0", "Basic " + base64.b64encode(b"x" * 500 + b":s").decode(),
     "Basic " + base64.b64encode(b"dev\x00police:s").decode(), "Bearer something", "Basic"],
)  # fmt: skip
async def test_odd_basic_credentials_are_invalid_client(identity: httpx.AsyncClient, authorization: str) -> None:
    r = await identity.post("/oauth2/token", data=GRANT, headers={"Authorization": authorization.encode("latin-1")})  # type: ignore[arg-type]  # raw bytes on purpose
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


async def test_odd_ids_and_assertions_are_refused_in_words(
    identity: httpx.AsyncClient, jwt_client: tuple[str, jwk.ECKey], clients: dict[str, tuple[str, str]]
) -> None:
    client_id, key = jwt_client
    unsigned = jose_jwt.encode({"alg": "ES256"}, {"sub": "\x00" * 3, "iss": "x"}, ec_key())
    for form in (
        GRANT | {"client_id": "\x00"},
        jwt_form(unsigned),
        jwt_form(assertion(key, client_id, jti="a\x00b")),
        jwt_form(assertion(key, client_id, exp=10**400)),
        jwt_form(assertion(ec_key(), "x" * 300)),
    ):
        r = await identity.post("/oauth2/token", data=form)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", (form, r.text)
    both = await identity.post("/oauth2/token", data=jwt_form(assertion(key, client_id)), auth=clients["POLICE"])
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    nul_scope = await identity.post(
        "/oauth2/token", data=GRANT | {"scope": "referrals:write\x00"}, auth=clients["POLICE"]
    )
    assert nul_scope.status_code == 400 and nul_scope.json()["error"] == "invalid_scope"


async def test_guesses_from_elsewhere_do_not_lock_a_client_out(
    shared_settings: dict[str, Any], clients: dict[str, tuple[str, str]]
) -> None:
    from ictg_identity.app import create_app
    from ictg_identity.settings import IdentitySettings

    app = create_app(IdentitySettings(**shared_settings, issuer=ISSUER, token_rate_per_client=3))
    async with app.router.lifespan_context(app):
        attacker = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 5000)), base_url=ISSUER
        )
        police = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("198.51.100.7", 5000)), base_url=ISSUER
        )
        async with attacker, police:
            guesses = [(await attacker.post("/oauth2/token", data=GRANT, auth=("dev-police", "guess"))).status_code
                       for _ in range(5)]  # fmt: skip
            mine = await police.post("/oauth2/token", data=GRANT, auth=clients["POLICE"])
    assert guesses == [401, 401, 401, 429, 429] and mine.status_code == 200


async def test_registrations_name_a_known_organisation_type_and_signing_keys_it_can_verify(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]]
) -> None:
    staff = {"Authorization": f"Bearer {await token_of(identity, clients['STAFF'])}"}
    body = {"name": "Kent Police", "org_type": "police", "org_name": "Kent Police", "scopes": ["referrals:write"]}
    for org_type in ("Kent Police", "ngo/x", "ictg ", "ngo:x"):
        r = await identity.post("/v1/clients", json=body | {"org_type": org_type}, headers=staff)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/org_type", org_type
    p384 = jwk.ECKey.generate_key("P-384", parameters={"kid": "p"}, private=False).as_dict()
    twice = [ec_key("same").as_dict(private=False), ec_key("same").as_dict(private=False)]
    for keys in ([p384], twice, [ec_key().as_dict(private=False) | {"use": "enc"}]):
        r = await identity.post("/v1/clients", headers=staff,
                                json=body | {"auth_method": "private_key_jwt", "jwks": {"keys": keys}})  # fmt: skip
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/jwks", keys


async def test_a_leaked_secret_ends_now_keys_roll_over_and_a_service_has_one_client(
    identity: httpx.AsyncClient, jwt_client: tuple[str, jwk.ECKey], clients: dict[str, tuple[str, str]]
) -> None:
    staff = {"Authorization": f"Bearer {await token_of(identity, clients['STAFF'])}"}
    r = await identity.post("/v1/clients/dev-police/rotate-secret", json={"previous_valid_seconds": 0}, headers=staff)
    assert r.status_code == 200
    assert (await identity.post("/oauth2/token", data=GRANT, auth=clients["POLICE"])).status_code == 401
    await token_of(identity, ("dev-police", r.json()["client_secret"]))
    # Key rollover: the new key published beside the old, then the old removed.
    client_id, old = jwt_client
    new = ec_key("k2")
    both = {"jwks": {"keys": [old.as_dict(private=False), new.as_dict(private=False)]}}
    assert (await identity.put(f"/v1/clients/{client_id}/jwks", json=both, headers=staff)).status_code == 200
    assert (await identity.post("/oauth2/token", data=jwt_form(assertion(new, client_id)))).status_code == 200
    only_new = {"jwks": {"keys": [new.as_dict(private=False)]}}
    assert (await identity.put(f"/v1/clients/{client_id}/jwks", json=only_new, headers=staff)).status_code == 200
    assert (await identity.post("/oauth2/token", data=jwt_form(assertion(old, client_id)))).status_code == 401
    secret_client = await identity.put("/v1/clients/dev-police/jwks", json=only_new, headers=staff)
    assert secret_client.status_code == 409
    second = await identity.post("/v1/clients", headers=staff, json={
        "name": "another case API", "org_type": "ictg", "org_name": "ICTG service", "scopes": ["referrals:read"],
        "service": "case-api",
    })  # fmt: skip
    assert second.status_code == 409 and "service-case-api" in second.json()["detail"]
