"""Calling another platform service over HTTP: its base URL, a service token, one error for "down".

Each caller (the case API's claim check and reconciliation against intake, metrics' reconciliation
against the case API) names the peer's `Unavailable` error; a network failure, or any status the
caller did not expect, raises it, so a consumer pauses instead of spending its delivery budget.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import httpx

from .auth import ServiceAuth
from .outages import Unavailable
from .tracing import instrument_client


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
