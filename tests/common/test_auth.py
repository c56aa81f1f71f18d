"""Production tokens: RS256 verified against a configured issuer's JWKS; HS256 tokens are then
refused. Token lifetimes, and which callers the rate limit spares (platform services, by a verified
claim only)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ictg_common.auth import SCOPES, RateLimiter, TokenVerifier, mint_token
from ictg_common.auth import main as auth_cli
from ictg_common.errors import Unauthorized
from ictg_common.issuers import IssuerConfig
from tests.support.platform import SECRET, serve

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ISSUER = "https://idp.test"


def production(jwks_url: str) -> TokenVerifier:
    """A verifier outside development trusting one issuer, its keys already fetched."""
    verifier = TokenVerifier(secret="unused", issuers=[IssuerConfig(issuer=ISSUER, jwks_url=jwks_url)],
                             development=False)  # fmt: skip
    asyncio.run(verifier.issuers[ISSUER].refresh(force=True))
    return verifier


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json"
    server.shutdown()
    server.server_close()


def rs256(**claims: Any) -> str:
    now = int(time.time())
    base = {"sub": "u1", "aud": "ictg", "iat": now, "exp": now + 60, "scope": "cases:read", "regions": ["london"],
            "iss": ISSUER}  # fmt: skip
    return jwt.encode({**base, **claims}, KEY, algorithm="RS256", headers={"kid": "k1"})


def test_rs256_token_from_the_jwks_is_accepted(jwks_url: str) -> None:
    actor = production(jwks_url).verify(rs256(org_type="local_authority", org_name="Camden"))
    assert actor.sub == "u1" and actor.has("cases:read") and actor.regions == ("london",)
    assert actor.organisation == ("local_authority", "Camden")


def test_with_a_jwks_an_hs256_token_is_refused(jwks_url: str) -> None:
    verifier = production(jwks_url)
    verifier.secret = "s" * 40
    with pytest.raises(Unauthorized, match="only in development"):
        verifier.verify(mint_token(secret="s" * 40, sub="x", scopes=["cases:read"]))


def test_expired_and_wrong_audience_rs256_tokens_are_refused(jwks_url: str) -> None:
    verifier = production(jwks_url)
    for token in (rs256(exp=int(time.time()) - 5), rs256(aud="someone-else")):
        with pytest.raises(Unauthorized):
            verifier.verify(token)


def test_rate_limiter_refills_over_time() -> None:
    limiter = RateLimiter(per_minute=60)  # one a second, bursts of 60
    assert all(limiter.take("a", now=0.0) == 0 for _ in range(60))
    assert limiter.take("a", now=0.0) == pytest.approx(1.0)
    assert limiter.take("a", now=1.0) == 0 and limiter.take("b", now=1.0) == 0


def hs256(**claims: Any) -> str:
    now = int(time.time())
    base = {"sub": "u1", "aud": "ictg", "iat": now, "exp": now + 60, "scope": "cases:read"}
    return jwt.encode({k: v for k, v in {**base, **claims}.items() if v is not None}, SECRET, algorithm="HS256")


def refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(token)
    return caught.value.detail


def test_a_token_needs_iat_and_a_lifetime_within_the_cap() -> None:
    verifier = TokenVerifier(secret=SECRET, max_token_seconds=24 * 3600)
    now = int(time.time())
    assert "iat" in refusal(verifier, hs256(iat=None))
    ten_years = hs256(iat=now, exp=now + 10 * 365 * 86400)
    assert "longer than 86400 seconds" in refusal(verifier, ten_years)
    assert "longer than" in refusal(verifier, hs256(iat=now - 3600, exp=now + 86400))  # 25 h in all
    assert "iat" in refusal(verifier, hs256(iat="yesterday"))
    assert verifier.verify(hs256(iat=now - 3600, exp=now + 23 * 3600)).sub == "u1"  # exactly 24 h
    # mint_token's default (12 h) and the dev CLI's stay valid; a stricter cap refuses them.
    assert verifier.verify(mint_token(secret=SECRET, sub="dev", scopes=["cases:read"])).sub == "dev"
    strict = TokenVerifier(secret=SECRET, max_token_seconds=3600)
    assert "longer than 3600" in refusal(strict, mint_token(secret=SECRET, sub="dev", scopes=["cases:read"]))


def test_a_token_issued_in_the_future_is_refused_beyond_a_small_leeway() -> None:
    verifier = TokenVerifier(secret=SECRET)
    now = int(time.time())
    assert verifier.verify(hs256(iat=now + 30, exp=now + 600)).sub == "u1"  # clocks drift a little
    assert "future" in refusal(verifier, hs256(iat=now + 3600, exp=now + 7200))


def test_the_lifetime_cap_applies_to_production_tokens(jwks_url: str) -> None:
    verifier = production(jwks_url)
    now = int(time.time())
    assert "longer than" in refusal(verifier, rs256(iat=now, exp=now + 7 * 86400))
    assert "iat" in refusal(verifier, jwt.encode(
        {"sub": "u1", "aud": "ictg", "exp": now + 60, "iss": ISSUER}, KEY, algorithm="RS256", headers={"kid": "k1"}
    ))  # fmt: skip


def test_only_a_verified_service_claim_marks_a_platform_service(jwks_url: str) -> None:
    verifier = TokenVerifier(secret=SECRET)
    assert verifier.verify(mint_token(secret=SECRET, sub="service:case-api", scopes=[], service=True)).service
    assert not verifier.verify(mint_token(secret=SECRET, sub="service:x", scopes=[])).service  # the name alone
    assert not verifier.verify(hs256(sub="service:x", ictg_service="true")).service  # a string is not the claim
    assert not verifier.verify(hs256(sub="dc-smith", ictg_service=True)).service  # a person is not a service
    forged = mint_token(secret="someone-elses-secret-0123456789abcdef", sub="service:x", scopes=[], service=True)
    refusal(verifier, forged)
    with pytest.raises(ValueError):
        mint_token(secret=SECRET, sub="dc-smith", scopes=[], service=True)
    # In production the IdP issues the claim to the platform's own client-credentials clients.
    trusted = production(jwks_url)
    assert trusted.verify(rs256(sub="service:case-api", ictg_service=True)).service


def test_the_platform_services_own_tokens_carry_the_claim_and_a_short_life() -> None:
    from ictg_cases.cases.claimcheck import IntakeClient
    from ictg_cases.settings import CasesSettings
    from ictg_metrics.admin.reconcile import cases_client
    from ictg_metrics.settings import MetricsSettings

    verifier = TokenVerifier(secret=SECRET)
    claim_check = IntakeClient(CasesSettings(auth_secret=SECRET)).auth.token()
    reconcile = cases_client(MetricsSettings(auth_secret=SECRET)).auth.token()
    for token in (claim_check, reconcile):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert verifier.verify(token).service and claims["exp"] - claims["iat"] <= 3600
    assert verifier.verify(claim_check).has("referrals:read")
    assert verifier.verify(reconcile).has("cases:read") and verifier.verify(reconcile).sub == "service:metrics"
    # With production keys a self-minted token would be refused: both services refuse to start without theirs.
    # Keyword arguments for either class (each ignores what it does not declare: metrics' cell key secret).
    production: dict[str, Any] = {"scrape_token": "a-real-one", "cell_key_secret": "k"}
    for settings in (CasesSettings, MetricsSettings):
        with pytest.raises(ValueError, match=r"_TOKEN, or .*CLIENT_ID"):
            settings(auth_secret=SECRET, auth_development=False, **production)


async def test_a_service_looking_sub_without_the_claim_is_rate_limited(shared_settings: dict[str, Any]) -> None:
    from ictg_intake.app import create_app
    from ictg_intake.settings import IntakeSettings

    settings = {**shared_settings, "rate_limit_per_minute": 2}
    async with serve(create_app(IntakeSettings(**settings))) as intake:
        pretender = {
            "Authorization": f"Bearer {mint_token(secret=SECRET, sub='service:x', scopes=['audit:read'], org_type='ictg')}"
        }
        answers = [(await intake.get("/v1/audit", headers=pretender)).status_code for _ in range(3)]
        assert answers == [200, 200, 429]
        limited = await intake.get("/v1/audit", headers=pretender)
        assert limited.headers["content-type"] == "application/problem+json" and limited.headers["retry-after"]
        service = mint_token(secret=SECRET, sub="service:case-api", scopes=["audit:read"], service=True)
        for _ in range(5):
            assert (await intake.get("/v1/audit", headers={"Authorization": f"Bearer {service}"})).status_code == 200


def test_council_scopes_are_known() -> None:
    assert {"la:read", "la:write", "webhooks:manage"} <= set(SCOPES)


def test_a_councils_token_carries_its_la_codes() -> None:
    verifier = TokenVerifier(secret=SECRET)
    token = mint_token(
        secret=SECRET, sub="council-1", scopes=["la:read", "la:write"], org_type="local_authority",
        org_name="Manchester City Council", la_codes=["E08000003", "W06000015"],
    )  # fmt: skip
    actor = verifier.verify(token)
    assert actor.la_codes == ("E08000003", "W06000015") and actor.org_type == "local_authority"
    assert actor.has("la:write") and actor.regions == ()
    assert verifier.verify(hs256()).la_codes == ()  # no claim: no council codes


@pytest.mark.parametrize(
    "la_codes",
    [
        "E08000003",  # not a list
        ["E99999999"],  # no such authority
        ["E07000001"],  # a lower-tier district, not an upper-tier authority
        ["e08000003"],  # not spelt as ONS spells it
        ["E08000003", "E08000003"],  # twice
        [8000003],
        [{"code": "E08000003"}],
    ],
)
def test_an_invalid_la_codes_claim_is_refused(la_codes: Any) -> None:
    assert refusal(TokenVerifier(secret=SECRET), hs256(la_codes=la_codes)) == "Invalid token claims."


def test_mint_token_refuses_unknown_la_codes() -> None:
    with pytest.raises(ValueError, match="la_codes"):
        mint_token(secret=SECRET, sub="c", scopes=["la:read"], org_type="local_authority", la_codes=["E99999999"])


def test_the_dev_cli_mints_a_councils_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICTG_AUTH_SECRET", SECRET)
    assert auth_cli(["--org-type", "local_authority", "--org-name", "Liverpool", "--la-code", "E08000012",
                     "--la-code", "e08000003"]) == 0  # fmt: skip
    actor = TokenVerifier(secret=SECRET).verify(capsys.readouterr().out.strip())
    assert actor.la_codes == ("E08000012", "E08000003") and actor.organisation == ("local_authority", "Liverpool")
    # a council's token defaults to the council scopes and no region: it is not a reader of regions
    assert actor.scopes == {"la:read", "la:write"} and actor.regions == ()
    for argv in (
        ["--org-type", "local_authority"],  # no code
        ["--la-code", "E08000012"],  # a code on a police token
        ["--org-type", "local_authority", "--la-code", "E99999999"],
        ["--org-type", "local_authority", "--la-code", "E08000012", "--la-code", "E08000012"],
    ):
        with pytest.raises(SystemExit) as refused:
            auth_cli(argv)
        assert refused.value.code == 2, argv


def test_the_dev_cli_mints_only_in_development(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICTG_AUTH_DEVELOPMENT", "false")
    with pytest.raises(SystemExit):
        auth_cli([])
    assert "ICTG_AUTH_DEVELOPMENT=true" in capsys.readouterr().err
