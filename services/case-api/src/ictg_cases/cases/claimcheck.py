"""Claim check: the case API fetches a referral's personal details from intake when it opens a case."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx

from ictg_common.outages import Unavailable
from ictg_common.peer import PeerClient, ServiceAuth

from ..settings import CasesSettings

PREFETCH_CONCURRENCY = 4  # requests in flight
BATCH = 100  # referrals a request (intake's `id` filter takes up to 100)


class IntakeUnavailable(Unavailable):
    """Intake did not answer, or answered 5xx/429/401/403: the consumer pauses, budget untouched."""


class ReferralUnknown(Exception):
    """Intake answered 404 for the event's referral: a handler failure (retried, then parked)."""


class IntakeClient:
    def __init__(self, settings: CasesSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        # A platform service token (exempt from intake's rate limit), renewed before it expires.
        self.auth = ServiceAuth(
            token=settings.intake_token, secret=settings.auth_secret, name="case-api", scopes=["referrals:read"],
            client=settings.client_credentials,
            audience=settings.auth_audience,
        )  # fmt: skip
        self._ready: dict[UUID, dict[str, Any]] = {}  # prefetched for the batch being handled
        self._peer = PeerClient(
            name="intake", base_url=settings.intake_url, auth=self.auth, unavailable=IntakeUnavailable,
            transport=transport,
        )  # fmt: skip

    async def prefetch(self, referral_ids: Sequence[UUID]) -> None:
        """Fetch these referrals now, outside the consumer's transaction, for `referral` to hand over:
        a slow intake then holds no database connection. One request per `BATCH` referrals (intake's
        list filtered by id), not one each. A referral intake does not know is left for `referral`
        to refuse; intake unavailable raises, as `referral` does."""
        self._ready = {}  # nothing of an earlier batch is kept
        wanted = [str(r) for r in dict.fromkeys(referral_ids)]
        gate = asyncio.Semaphore(PREFETCH_CONCURRENCY)

        async def chunk(ids: list[str]) -> list[dict[str, Any]]:
            async with gate:
                page = await self._peer.get_json("/v1/referrals", params={"id": ids, "limit": len(ids)})
                items: list[dict[str, Any]] = page["items"]
                return items

        found = await asyncio.gather(*(chunk(wanted[i : i + BATCH]) for i in range(0, len(wanted), BATCH)))
        self._ready = {UUID(body["id"]): body for items in found for body in items}

    async def referral(self, referral_id: UUID) -> dict[str, Any]:
        """The referral's details: prefetched for this batch, or fetched now."""
        ready = self._ready.pop(referral_id, None)
        return ready if ready is not None else await self._fetch(referral_id)

    async def _fetch(self, referral_id: UUID) -> dict[str, Any]:
        response = await self._peer.get(f"/v1/referrals/{referral_id}", expect=(200, 404))
        if response.status_code == 404:
            raise ReferralUnknown(f"intake knows no referral {referral_id}")
        body: dict[str, Any] = response.json()
        return body

    async def referral_ids(
        self, *, received_before: datetime, cursor: str | None = None, limit: int = 500
    ) -> dict[str, Any]:
        """One page of intake's `GET /v1/admin/referral-ids` (ids and `received_at`, for reconciliation)."""
        params: dict[str, Any] = {"received_before": received_before.isoformat(), "limit": limit}
        if cursor:
            params["cursor"] = cursor
        return await self._peer.get_json("/v1/admin/referral-ids", params=params)

    async def aclose(self) -> None:
        await self._peer.aclose()
