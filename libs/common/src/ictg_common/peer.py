"""Calling another platform service over HTTP: its base URL, a service token, one error for "down".

Each caller (the case API's claim check and reconciliation against intake, metrics' reconciliation
against the case API) names the peer's `Unavailable` error; a network failure, or any status the
caller did not expect, raises it, so a consumer pauses instead of spending its delivery budget.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, Collection, Generator
from typing import Any

import httpx

from .auth import mint_token
from .outages import Unavailable
from .tracing import instrument_client


class ServiceAuth(httpx.Auth):
    """httpx auth for a platform service calling another: `Bearer` with a service token.

    - With `client` (token URL, client id, secret: the service's own client at the token service) it
      gets its tokens there (client credentials, `client_secret_basic`), gets the next one when two
      thirds of a token's life have passed, and once more if the peer answers 401 (keys rotated).
    - With `token`, that token is sent as is.
    - Otherwise (development) an HS256 service token is minted from the platform's `secret`, and
      minted again once half its `ttl_seconds` has passed.
    """

    def __init__(
        self,
        *,
        token: str | None,
        secret: str,
        name: str,
        scopes: list[str],
        audience: str = "ictg",
        regions: list[str] | None = None,
        ttl_seconds: int = 3600,
        client: tuple[str, str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._fixed = token
        self._client = client
        self._transport = transport
        self._scopes = scopes
        self._mint = functools.partial(
            mint_token, secret=secret, sub=f"service:{name}", scopes=scopes, audience=audience, regions=regions,
            ttl_seconds=ttl_seconds, service=True,
        )  # fmt: skip
        self._ttl = ttl_seconds
        self._token, self._renew_at = "", 0.0
        self._lock = asyncio.Lock()

    def token(self) -> str:
        if self._fixed:
            return self._fixed
        if self._client is not None:
            raise RuntimeError("a service with a client gets its token asynchronously (atoken)")
        if time.monotonic() >= self._renew_at:
            self._token = self._mint()
            self._renew_at = time.monotonic() + self._ttl / 2
        return self._token

    async def atoken(self, *, renew: bool = False) -> str:
        if self._client is None:
            return self.token()
        async with self._lock:
            if renew or time.monotonic() >= self._renew_at:
                url, client_id, secret = self._client
                async with httpx.AsyncClient(transport=self._transport, timeout=10.0) as http:
                    response = await http.post(
                        url, data={"grant_type": "client_credentials", "scope": " ".join(self._scopes)},
                        auth=(client_id, secret),
                    )  # fmt: skip
                    response.raise_for_status()
                body = response.json()
                self._token = str(body["access_token"])
                self._renew_at = time.monotonic() + float(body.get("expires_in", 900)) * 2 / 3
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self.atoken()}"
        response = yield request
        if response.status_code == 401 and self._client is not None:
            request.headers["Authorization"] = f"Bearer {await self.atoken(renew=True)}"
            yield request


class PeerUnavailable(Unavailable):
    """The peer did not answer, or answered a status the caller did not expect (an outage: a
    consumer pauses on it, an HTTP handler answers 503)."""


class PeerClient:
    """An httpx client to one peer service, authenticated with `auth` (renewed before it expires)."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        auth: ServiceAuth,
        unavailable: type[Unavailable] = PeerUnavailable,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.auth = auth
        self.unavailable = unavailable
        self._client = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout, auth=auth)
        self._traced = False  # instrumented at the first call: tracing starts with the app, after this

    async def get(
        self, path: str, *, params: dict[str, Any] | None = None, expect: Collection[int] = (200,)
    ) -> httpx.Response:
        """The response, if its status is one of `expect`; otherwise `unavailable` is raised."""
        if not self._traced:
            self._traced = instrument_client(self._client)  # the call joins the caller's trace, if tracing is on
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise self.unavailable(f"{self.name}: {exc!r}") from exc
        if response.status_code not in expect:
            raise self.unavailable(f"{self.name} answered {response.status_code} to GET {path}: {response.text[:200]}")
        return response

    async def get_json(self, path: str, *, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = (await self.get(path, params=params)).json()
        return body

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> PeerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
