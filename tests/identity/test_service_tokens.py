"""The platform's services get their own tokens from the token service (client credentials): one token
reused while it is fresh, the next one before it expires, and a new one at once when a peer refuses
the old (keys rotated)."""

from __future__ import annotations

import httpx
import jwt

from ictg_common.peer import ServiceAuth
from tests.support.identity_harness import (  # noqa: F401
    ISSUER,
    audit_rows,
    clients_fixture,
    identity_fixture,
    identity_settings_fixture,
)


def service_auth(identity: httpx.AsyncClient, client: tuple[str, str]) -> ServiceAuth:
    return ServiceAuth(token=None, secret="unused", name="case-api", scopes=["referrals:read"],
                       client=(f"{ISSUER}/oauth2/token", *client), transport=identity._transport)  # fmt: skip


async def test_a_service_token_is_reused_renewed_before_expiry_and_after_a_refusal(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]], database_url: str
) -> None:
    auth = service_auth(identity, clients["CASES_CLIENT"])
    first = await auth.atoken()
    claims = jwt.decode(first, options={"verify_signature": False})
    assert claims["sub"] == "service:case-api" and claims["ictg_service"] is True
    assert claims["scope"] == "referrals:read" and claims["org_type"] == "ictg"
    assert await auth.atoken() == first  # fresh: reused, no second request
    auth._renew_at = 0.0  # two thirds of its 15 minutes have passed
    second = await auth.atoken()
    assert second != first
    seen: list[str] = []

    def peer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(401 if len(seen) == 1 else 200)  # the first refused: its key is gone

    async with httpx.AsyncClient(transport=httpx.MockTransport(peer), auth=auth) as http:
        assert (await http.get("http://intake.test/v1/referrals")).status_code == 200
    assert seen[0] == f"Bearer {second}" and seen[1] != seen[0]
    issued = [r for r in await audit_rows(database_url) if r.action == "token.issued"]
    assert [r.actor for r in issued] == ["service-case-api"] * 3


async def test_a_service_whose_client_is_refused_reports_its_peer_unavailable(
    identity: httpx.AsyncClient, clients: dict[str, tuple[str, str]]
) -> None:
    """A wrong secret is an outage of the call (the consumer pauses), never a crash or a token-less request."""
    from ictg_common.peer import PeerClient, PeerUnavailable

    auth = service_auth(identity, ("service-case-api", "wrong"))
    peer = PeerClient(name="intake", base_url="http://intake.test", auth=auth,
                      transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))  # fmt: skip
    try:
        await peer.get("/v1/referrals")
    except PeerUnavailable as exc:
        assert "401" in str(exc)
    else:
        raise AssertionError("a request went out without a token")
    finally:
        await peer.aclose()
