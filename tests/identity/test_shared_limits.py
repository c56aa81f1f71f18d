"""The token endpoint's two limits (per client and address, per address) shared by the service's replicas:
two identity app instances on one database are two replicas."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.identity_harness import ISSUER, clients_fixture  # noqa: F401

GRANT = {"grant_type": "client_credentials"}


async def test_identitys_per_client_limit_is_shared_by_two_replicas(
    shared_settings: dict[str, Any], clients: dict[str, tuple[str, str]]
) -> None:
    from ictg_identity.app import create_app
    from ictg_identity.settings import IdentitySettings

    def replica() -> Any:
        return create_app(IdentitySettings(**shared_settings, issuer=ISSUER, token_rate_per_client=3))

    one, two = replica(), replica()
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        https = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) for app in (one, two)]
        async with https[0], https[1]:
            police = [(await https[i % 2].post("/oauth2/token", data=GRANT, auth=clients["POLICE"])) for i in range(6)]
            guesses = [
                (await https[i % 2].post("/oauth2/token", data=GRANT, auth=("dev-analyst", "guess"))).status_code
                for i in range(4)
            ]
            council = await https[1].post("/oauth2/token", data=GRANT, auth=clients["COUNCIL"])
    assert [r.status_code for r in police] == [200, 200, 200, 429, 429, 429]
    assert police[3].json()["error"] == "slow_down" and 1 <= int(police[3].headers["retry-after"]) <= 21
    assert guesses == [401, 401, 401, 429] and council.status_code == 200


async def test_identitys_per_address_limit_is_shared_by_two_replicas(shared_settings: dict[str, Any]) -> None:
    from ictg_identity.app import create_app
    from ictg_identity.settings import IdentitySettings

    def replica() -> Any:
        return create_app(IdentitySettings(**shared_settings, issuer=ISSUER, token_rate_per_address=4))

    one, two = replica(), replica()
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        https = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 5000)), base_url=ISSUER)
            for app in (one, two)
        ]
        async with https[0], https[1]:
            # Guesses at four clients' secrets from one address: the address's limit, not any client's.
            codes = [
                (await https[i % 2].post("/oauth2/token", data=GRANT, auth=(f"client-{i}", "guess"))).status_code
                for i in range(6)
            ]
    assert codes == [401, 401, 401, 401, 429, 429]
