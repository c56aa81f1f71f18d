"""Building a child's events with the producers' own models (ictg_common.contracts) and publishing them
through real NATS."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import nats

from ictg_common import clock
from ictg_common import contracts as c
from ictg_common.contracts import make_event
from ictg_common.events import CloudEvent, new_id
from tests.support.platform import as_tester

LONDON = ZoneInfo("Europe/London")


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    """Noon (or `hour`) London time on an ISO day."""
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=LONDON).replace(
        hour=hour, minute=minute
    )


@dataclass
class Child:
    """One child's story: call the methods, then `.events` is its list of CloudEvents."""

    received_at: datetime
    identified_on: date | None = None
    referral_id: str = field(default_factory=lambda: str(new_id()))
    case_id: str = field(default_factory=lambda: str(new_id()))
    events: list[CloudEvent] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        received_on = clock.london_date(self.received_at)
        identified = self.identified_on or received_on - timedelta(days=1)
        t = clock.timeliness(received_at=self.received_at, identified_on=identified)
        data: dict[str, Any] = {
            "referral_id": self.referral_id, "received_at": self.received_at.isoformat(),
            "identified_on": identified.isoformat(), "referrer_type": "police", "local_authority_code": "E08000003",
            "region": "north_west", "pathway": "direct_worker", "gender": "male", "age_at_referral": 15,
            "age_band": "14-15", "age_disputed": False, "nationality": "VN", "nationality_group": "non_eea",
            "interpreter_required": True, "uasc": True,
            "exploitation": {"primary": "criminal", "others": ["labour"], "county_lines": False},
            "missing_at_referral": False, "nrm_referred": True, "living_situation": "foster_care",
            "trafficker_contact": "suspected", "education": "not_attending", "cjs_involvement": [],
            "timeliness": t.as_dict(), "possible_duplicate_of": [],
        }  # fmt: skip
        data.update(self.attrs)
        referral = c.ReferralReceived.model_validate(data)
        self.events.append(make_event(data=referral, subject=self.referral_id, time=self.received_at))
        self._case(c.CaseOpened, self.received_at, status="awaiting_allocation", region=referral.region,
                   pathway=referral.pathway, opened_at=self.received_at)  # fmt: skip
        if data["missing_at_referral"]:
            self.missing(self.received_at, at_referral=True)

    def _case(self, model: type[c.CaseEventData], time: datetime, **data: Any) -> Child:
        body = model(case_id=UUID(self.case_id), referral_id=UUID(self.referral_id), **data)
        self.events.append(make_event(data=body, subject=self.case_id, time=time))
        return self

    def allocate(self, when: datetime) -> Child:
        return self._case(c.CaseAllocated, when, allocation_id=new_id(), worker_id=new_id(),
                          role="direct_worker", region="north_west", allocated_at=when,
                          reallocation=False, over_capacity=False)  # fmt: skip

    def contact(self, when: datetime, *, outcome: str = "made", method: str = "face_to_face", party: str = "child",
                topics: list[str] | None = None) -> Child:  # fmt: skip
        return self._case(c.ContactRecorded, when, contact_id=new_id(), occurred_at=when,
                          outcome=outcome, method=method, party=party, topics=topics or [])  # fmt: skip

    def missing(
        self, start: datetime, end: datetime | None = None, *, at_referral: bool = False,
        interview: tuple[datetime, str] | None = None,
    ) -> Child:  # fmt: skip
        """An episode; `interview`: the return interview (offered_at, outcome) after its `end`."""
        episode = new_id()
        self._case(c.MissingStarted, start, episode_id=episode, started_at=start, at_referral=at_referral,
                   whereabouts_known=False, reported_to_police=True, missing_from_care_meeting=False,
                   professional_network_meeting=False)  # fmt: skip
        if end is not None:
            self._case(c.MissingEnded, end, episode_id=episode, started_at=start, ended_at=end,
                       return_interview_offered=True)  # fmt: skip
        if end is not None and interview is not None:
            offered, outcome = interview
            due = end + timedelta(hours=72)
            self._case(c.ReturnInterviewRecorded, offered, interview_id=new_id(), episode_id=episode, ended_at=end,
                       due_by=due, offered_at=offered, outcome=outcome,
                       conducted_by=None if outcome == "not_offered" else "local_authority",
                       within_72h=outcome != "not_offered" and offered < due)  # fmt: skip
        return self

    def nrm(self, when: datetime, stage: str, outcome: str) -> Child:
        return self._case(c.NrmDecisionRecorded, when, decision_id=new_id(), stage=stage, outcome=outcome,
                          decided_at=when)  # fmt: skip

    def advocacy(self, when: datetime, kind: str, area: str) -> Child:
        return self._case(c.AdvocacyRecorded, when, advocacy_id=new_id(), kind=kind, area=area,
                          occurred_at=when)  # fmt: skip

    def move(self, when: datetime, la: str, region: str) -> Child:
        return self._case(c.CaseMoved, when, move_id=new_id(), moved_at=when,
                          from_local_authority_code="E08000003", local_authority_code=la, region=region)  # fmt: skip

    def release(self, when: datetime) -> Child:
        """A manager's pathway switch that left the case without a fitting guardian."""
        return self._case(c.CasePathwayChanged, when, pathway="regional_practitioner", changed_at=when,
                          unallocated=True)  # fmt: skip

    def exit(self, when: datetime, reason: str = "work_completed", destination: str = "none") -> Child:
        return self._case(c.CaseExited, when, exited_at=when, reason=reason, destination=destination)


async def publish(settings: dict[str, Any], events: list[CloudEvent]) -> None:
    """Publish on the test's own stream, as the producers' relays do (Nats-Msg-Id = event id), as the
    tests' own NATS user (no service may publish another's events)."""
    nc = await nats.connect(as_tester(settings["nats_url"]))
    js = nc.jetstream()
    for e in events:
        await js.publish(e.nats_subject(settings["subject_prefix"]), e.to_json(), headers={"Nats-Msg-Id": str(e.id)})
    await nc.close()
