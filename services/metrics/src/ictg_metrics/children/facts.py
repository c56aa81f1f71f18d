"""Each child's facts as a pure function of that child's events: order- and duplicate-insensitive.

Events are deduplicated by id and sorted by (time, id) before folding, so any permutation or
repetition of the same events yields the same facts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ictg_common import clock


@dataclass(frozen=True)
class Ev:
    id: str
    type: str
    time: datetime
    data: dict[str, Any]


AT_REFERRAL = (
    "gender", "age_band", "age_at_referral", "nationality", "nationality_group", "uasc", "referrer_type",
    "local_authority_code", "region", "pathway", "missing_at_referral", "living_situation", "trafficker_contact",
    "education", "cjs_involvement",
)  # fmt: skip


def _name(type_: str) -> str:
    return ".".join(type_.split(".")[1:-1])


def fold(events: Iterable[Ev]) -> dict[str, Any]:
    """The child's facts (JSON-ready). Empty dict keys are simply absent."""
    unique = {e.id: e for e in events}
    ordered = sorted(unique.values(), key=lambda e: (e.time, e.id))
    facts: dict[str, Any] = {"status": None}
    for e in ordered:
        name, d = _name(e.type), e.data
        if name == "referral.received":
            received_at = datetime.fromisoformat(d["received_at"])
            facts.update({k: d.get(k) for k in AT_REFERRAL})
            facts["referral_id"] = d["referral_id"]
            facts["received_at"] = received_at.isoformat()
            facts["received_on"] = clock.london_date(received_at).isoformat()
            facts["identified_on"] = d.get("identified_on")
            exploitation = d.get("exploitation") or {}
            facts["primary_exploitation"] = exploitation.get("primary")
            facts["exploitation_type"] = sorted({exploitation.get("primary"), *exploitation.get("others", [])} - {None})
            facts["county_lines"] = bool(exploitation.get("county_lines"))
            facts["timeliness"] = d.get("timeliness")
            if facts["status"] is None:
                facts["status"] = "awaiting_allocation"
        elif name == "case.opened":
            facts["case_id"] = d["case_id"]
            if facts["status"] is None:
                facts["status"] = "awaiting_allocation"
    return facts


def child_key(type_: str, subject: str, data: dict[str, Any]) -> str:
    """Which child an event is about: the referral id (case events carry it in `data`)."""
    if _name(type_) == "referral.received":
        return subject
    return str(data["referral_id"])
