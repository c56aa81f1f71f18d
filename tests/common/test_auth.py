"""Production tokens: RS256 verified against a JWKS; HS256 tokens are then refused."""

from __future__ import annotations

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

from ictg_common.auth import RateLimiter, TokenVerifier, mint_token
from ictg_common.errors import Unauthorized

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


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
    base = {"sub": "u1", "aud": "ictg", "iat": now, "exp": now + 60, "scope": "cases:read", "regions": ["london"]}
    return jwt.encode({**base, **claims}, KEY, algorithm="RS256", headers={"kid": "k1"})


def test_rs256_token_from_the_jwks_is_accepted(jwks_url: str) -> None:
    actor = TokenVerifier(secret="unused", jwks_url=jwks_url).verify(
        rs256(org_type="local_authority", org_name="Camden")
    )
    assert actor.sub == "u1" and actor.has("cases:read") and actor.regions == ("london",)
    assert actor.organisation == ("local_authority", "Camden")


def test_with_a_jwks_an_hs256_token_is_refused(jwks_url: str) -> None:
    verifier = TokenVerifier(secret="s" * 40, jwks_url=jwks_url)
    with pytest.raises(Unauthorized):
        verifier.verify(mint_token(secret="s" * 40, sub="x", scopes=["cases:read"]))


def test_expired_and_wrong_audience_rs256_tokens_are_refused(jwks_url: str) -> None:
    verifier = TokenVerifier(secret="unused", jwks_url=jwks_url)
    for token in (rs256(exp=int(time.time()) - 5), rs256(aud="someone-else")):
        with pytest.raises(Unauthorized):
            verifier.verify(token)


def test_rate_limiter_refills_over_time() -> None:
    limiter = RateLimiter(per_minute=60)  # one a second, bursts of 60
    assert all(limiter.take("a", now=0.0) == 0 for _ in range(60))
    assert limiter.take("a", now=0.0) == pytest.approx(1.0)
    assert limiter.take("a", now=1.0) == 0 and limiter.take("b", now=1.0) == 0
