"""Drive a synthetic caseload through the public HTTP APIs (intake, then the case API) for demos and
end-to-end runs: every referral posted as a historical import, then each record of its case.

Times must not be in the future: generate with an `end` of yesterday at the latest.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

import httpx

from ictg_common.reference import REGION_SLUGS

from .generate import Story

NAMES = ["Amir", "Bao", "Chloe", "Dritan", "Ella", "Feven", "Goran", "Hana", "Ibrahim", "Jade", "Kidane", "Linh"]
SURNAMES = ["Smith", "Nguyen", "Hoxha", "Tesfay", "Ahmed", "Jones", "Popescu", "Karimi", "Brown", "Tran"]


def referral_body(story: Story, rnd: random.Random) -> dict[str, Any]:
    d = story.referral
    received_on = date.fromisoformat(d["received_at"][:10])
    age = d["age_at_referral"]
    child: dict[str, Any] = {
        "given_name": rnd.choice(NAMES), "family_name": rnd.choice(SURNAMES), "other_names": [],
        "date_of_birth": None, "estimated_age": None, "age_disputed": d["age_disputed"], "gender": d["gender"],
        "nationality": d["nationality"], "first_language": "en" if d["nationality"] == "GB" else "und",
        "interpreter_required": d["interpreter_required"],
    }  # fmt: skip
    if age is None:
        child["estimated_age"] = 15
    else:
        child["date_of_birth"] = (received_on - timedelta(days=int(age * 365.25) + rnd.randint(30, 330))).isoformat()
    return {
        "identified_on": d["identified_on"], "received_at": d["received_at"],
        "referrer": {"organisation_type": d["referrer_type"], "organisation_name": "Synthetic referrer",
                     "contact_name": "A Referrer", "contact_email": "referrer@example.org", "contact_phone": "0100 000 0000"},
        "local_authority_code": d["local_authority_code"], "child": child,
        "parental_responsibility_in_uk": d["pathway"] != "direct_worker", "exploitation": d["exploitation"],
        "missing_at_referral": d["missing_at_referral"], "nrm": {"referred": d["nrm_referred"], "reference": None},
        "circumstances": {"living_situation": d["living_situation"], "trafficker_contact": d["trafficker_contact"],
                          "education": d["education"], "cjs_involvement": d["cjs_involvement"], "uasc": d["uasc"]},
    }  # fmt: skip


def _record(name: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(path under the case, body) for a case event; None for events the case API emits itself."""
    pick = lambda *keys: {k: data[k] for k in keys}  # noqa: E731
    return {
        "contact.recorded": lambda: ("contacts", pick("occurred_at", "outcome", "method", "party", "topics")),
        "assessment.recorded": lambda: ("assessments", pick("assessed_at", "living_situation", "trafficker_contact",
                                                            "education", "cjs_involvement")),
        "nrm_decision.recorded": lambda: ("nrm-decisions", pick("stage", "outcome", "decided_at")),
        "advocacy.recorded": lambda: ("advocacy", pick("kind", "area", "occurred_at")),
        "case.moved": lambda: ("moves", pick("moved_at", "local_authority_code")),
        "case.exited": lambda: ("exit", pick("exited_at", "reason", "destination")),
    }.get(name, lambda: None)()  # fmt: skip


class PoliteTransport(httpx.AsyncBaseTransport):
    """Waits out a 429 as its Retry-After asks (the services rate-limit each caller), then resends."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None, *, attempts: int = 30) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.attempts = attempts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(self.attempts):
            response = await self.inner.handle_async_request(request)
            if response.status_code != 429:
                return response
            await response.aread()
            await response.aclose()
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class Driver:
    """Posts stories to intake and the case API with the given bearer tokens."""

    def __init__(self, intake: httpx.AsyncClient, cases: httpx.AsyncClient, *, seed: int = 1) -> None:
        self.intake, self.cases = intake, cases
        self.rnd = random.Random(seed)
        self.workers: dict[tuple[str, str], str] = {}
        self.failures: list[str] = []

    async def setup_workers(self) -> None:
        for region in REGION_SLUGS:
            for role in ("direct_worker", "regional_practice_coordinator"):
                r = await self.cases.post("/v1/workers", json={"name": f"Synthetic {role} {region}", "role": role,
                                                               "region": region, "capacity": 500})  # fmt: skip
                r.raise_for_status()
                self.workers[(region, role)] = r.json()["id"]

    async def _case_id(self, referral_id: str) -> str | None:
        for _ in range(200):
            r = await self.cases.get("/v1/cases", params={"referral_id": referral_id})
            if r.status_code == 200 and r.json()["items"]:
                return str(r.json()["items"][0]["id"])
            await asyncio.sleep(0.05)
        return None

    async def post(self, story: Story) -> bool:
        r = await self.intake.post("/v1/referrals", json=referral_body(story, self.rnd))
        if r.status_code != 201:
            self.failures.append(f"referral {r.status_code}: {r.text[:200]}")
            return False
        case_id = await self._case_id(r.json()["id"])
        if case_id is None:
            self.failures.append("case never opened")
            return False
        region, pathway = story.referral["region"], story.referral["pathway"]
        role = "direct_worker" if pathway == "direct_worker" else "regional_practice_coordinator"
        episodes: dict[str, str] = {}
        for _service, name, _time, data, _id in story.events[2:]:
            if name == "case.allocated":
                # a synthetic worker soon holds more than a real one: the override says why
                req = ("allocations", {"worker_id": self.workers[(region, role)], "allocated_at": data["allocated_at"],
                                       "override_reason": "synthetic caseload"})  # fmt: skip
            elif name == "missing.started":
                if data["at_referral"]:
                    listing = await self.cases.get(f"/v1/cases/{case_id}/missing-episodes")
                    items = listing.json().get("items", []) if listing.status_code == 200 else []
                    episodes[data["episode_id"]] = next((str(i["id"]) for i in items if i.get("at_referral")), "")
                    continue
                req = ("missing-episodes", {k: data[k] for k in ("started_at", "whereabouts_known", "reported_to_police",
                                                                 "missing_from_care_meeting", "professional_network_meeting")})  # fmt: skip
            elif name == "missing.ended":
                req = (f"missing-episodes/{episodes.get(data['episode_id'], '')}/return",
                       {"ended_at": data["ended_at"], "return_interview_offered": data["return_interview_offered"]})  # fmt: skip
            else:
                found = _record(name, data)
                if found is None:
                    continue
                req = found
            resp = await self.cases.post(f"/v1/cases/{case_id}/{req[0]}", json=req[1])
            if resp.status_code not in (200, 201):
                self.failures.append(f"{req[0]} {resp.status_code}: {resp.text[:200]}")
                continue
            if name == "missing.started":
                episodes[data["episode_id"]] = str(resp.json()["id"])
        return True

    async def run(self, stories: Iterable[Story], *, progress: Callable[[int], None] | None = None) -> int:
        ok = 0
        for story in stories:
            ok += await self.post(story)
            if progress:
                progress(1)
        return ok
