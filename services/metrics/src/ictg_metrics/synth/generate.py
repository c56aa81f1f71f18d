"""Realistic synthetic caseloads: each child's journey as the platform's events would tell it.

Proportions follow the published evaluations of the ICTA/ICTG service (mostly boys aged 16–17,
criminal exploitation the most common, a third UK nationals, a tail of long cases, frequent
third-party contacts). Pure and seeded: the same seed gives the same caseload. Writers (bulk
loader, stream publisher, HTTP driver) turn `Story` objects into rows, messages or requests.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

from ictg_common import clock, codes
from ictg_common import contracts as c
from ictg_common.reference import local_authorities, region_slug

NATIONALITIES = [("GB", 34), ("VN", 14), ("AL", 10), ("ER", 7), ("SD", 6), ("AF", 5), ("RO", 3), ("IR", 3),
                 ("ET", 3), ("IQ", 3), ("NG", 2), ("PL", 2), ("CN", 2), ("KW", 1), ("stateless", 1), ("unknown", 4)]  # fmt: skip
EXPLOITATION = [
    ("criminal", 48),
    ("sexual", 20),
    ("labour", 14),
    ("domestic_servitude", 4),
    ("other", 6),
    ("unknown", 8),
]
REFERRERS = [("local_authority", 44), ("police", 28), ("border_force", 6), ("uk_visas_immigration", 4),
             ("ngo", 8), ("health", 3), ("national_crime_agency", 2), ("other", 5)]  # fmt: skip
AGES = [(5, 2), (10, 5), (12, 6), (14, 14), (15, 19), (16, 27), (17, 27)]
LIVING = [("family", 30), ("foster_care", 28), ("residential_care", 12), ("supported_accommodation", 18),
          ("independent", 3), ("other", 4), ("unknown", 5)]  # fmt: skip
EXIT_REASONS = [("work_completed", 45), ("turned_18", 25), ("declined_service", 8), ("long_term_missing", 6),
                ("moved_out_of_area", 6), ("assessed_adult", 4), ("negative_nrm_decision", 2), ("other", 4)]  # fmt: skip
DESTINATIONS = [("la_children_services", 35), ("la_adult_services", 10), ("post_18_support", 15), ("ngo", 8),
                ("other_service", 7), ("none", 25)]  # fmt: skip
PARTIES = [("social_worker", 40), ("foster_carer", 14), ("solicitor", 10), ("police", 9), ("parent", 6),
           ("residential_worker", 5), ("support_worker", 5), ("teacher", 4), ("nrm_case_worker", 3), ("health", 2),
           ("immigration_official", 1), ("other", 1)]  # fmt: skip
TOPICS: tuple[codes.Topic, ...] = get_args(codes.Topic)
ADVOCACY_KINDS: tuple[codes.AdvocacyKind, ...] = ("legal_advice", "meeting", "meeting", "representation")
ADVOCACY_AREAS: tuple[codes.AdvocacyArea, ...] = get_args(codes.AdvocacyArea)
NRM_STAGES: tuple[tuple[codes.NrmStage, int], ...] = (("reasonable_grounds", 10), ("conclusive_grounds", 300))
METHODS = [("face_to_face", 45), ("phone", 30), ("video", 8), ("message", 15), ("other", 2)]


def _pick(rnd: random.Random, table: list[tuple[Any, int]]) -> Any:
    return rnd.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def _told(data: c.EventData, time: datetime, event_id: str) -> tuple[str, str, datetime, dict[str, Any], str]:
    """One event of a story, its data built with the producers' own model."""
    return data.SOURCE, data.name(), time, data.model_dump(mode="json"), event_id


@dataclass
class Story:
    """One child's events in the order they happened: (service, name, time, data) with ids."""

    referral_id: str
    case_id: str
    events: list[tuple[str, str, datetime, dict[str, Any], str]] = field(
        default_factory=list
    )  # service, name, time, data, id
    referral: dict[str, Any] = field(default_factory=dict)  # what an HTTP driver posts to intake (no personal data)


class Generator:
    """`Generator(seed, start=…, end=…).stories(n)`: n children referred between start and end."""

    def __init__(
        self, seed: int = 1, *, start: date = date(2017, 2, 1), end: date = date(2020, 1, 31), intensity: float = 1.7
    ) -> None:
        self.rnd = random.Random(seed)
        self.start, self.end = start, end
        self.intensity = intensity  # scales contacts per month (the default gives ~100 events a child on average)
        self.las = list(local_authorities())
        self.end_at = datetime.combine(end, datetime.max.time(), tzinfo=clock.LONDON).astimezone(UTC)

    def _id(self) -> str:
        return str(self._uuid())

    def _uuid(self) -> uuid.UUID:
        """A record's id (the same draw as `_id`, typed as the events' models declare it)."""
        return uuid.UUID(int=self.rnd.getrandbits(128), version=4)

    def _when(self, base: datetime, days: float) -> datetime:
        return base + timedelta(days=days)

    def stories(self, n: int) -> Iterator[Story]:
        span = (self.end - self.start).days + 1
        for _ in range(n):
            day = self.start + timedelta(days=self.rnd.randrange(span))
            minutes = int(self.rnd.triangular(7 * 60, 23 * 60, 13 * 60))
            received_at = datetime.combine(day, datetime.min.time(), tzinfo=clock.LONDON) + timedelta(minutes=minutes)
            yield self.story(received_at.astimezone(UTC))

    def story(self, received_at: datetime) -> Story:
        """A child's story, each case event naming the child's authority and region at that point (as the case API writes them after a move)."""
        s = self._story(received_at)
        la, region = s.referral["local_authority_code"], s.referral["region"]
        for _source, name, _time, data, _id in s.events:
            if name == "case.moved":
                la, region = data["local_authority_code"], data["region"]
            if name != "referral.received":
                data["local_authority_code"], data["region"] = la, region
        return s

    def _story(self, received_at: datetime) -> Story:
        """One child's referral and case: received, opened, perhaps missing at once, then (most) allocated,
        contacted and recorded, and (some) exited by the end. The random draws come in a fixed order, so
        that a seed is always the same story."""
        s = Story(referral_id=self._id(), case_id=self._id())
        data = self._referral(s, received_at)
        case: dict[str, Any] = {"case_id": s.case_id, "referral_id": s.referral_id}
        s.events.append(_told(c.CaseOpened(**case, status=codes.AWAITING_ALLOCATION, region=data["region"],
                                           pathway=data["pathway"], opened_at=received_at), received_at, self._id()))  # fmt: skip
        if data["missing_at_referral"]:
            self._missing_at_referral(s, case, received_at)
        timing = self._allocation(s, case, received_at, region=data["region"])
        if timing is None:
            return s
        allocated, exit_at = timing
        span = (min(exit_at, self.end_at) - allocated).total_seconds() / 86400
        self._contacts(s, case, allocated, span, data["missing_at_referral"])
        self._records(s, case, allocated, span)
        if exit_at <= self.end_at:
            self._exit(s, case, exit_at)
        s.events.sort(key=lambda e: e[2])
        return s

    def _referral(self, s: Story, received_at: datetime) -> dict[str, Any]:
        """The referral as intake receives it (its event told, `s.referral` set): its data."""
        r = self.rnd
        nationality = _pick(r, NATIONALITIES)
        age = _pick(r, AGES) if r.random() > 0.03 else None
        la = r.choice(self.las)
        delay = int(min(r.expovariate(1 / 6), 400)) if r.random() < 0.6 else r.choice([0, 1])
        identified_on = clock.london_date(received_at) - timedelta(days=delay)
        primary = _pick(r, EXPLOITATION)
        missing_at_referral = r.random() < 0.06
        parental = nationality == "GB" or r.random() < 0.15
        t = clock.timeliness(received_at=received_at, identified_on=identified_on)
        data = {
            "referral_id": s.referral_id, "received_at": received_at.isoformat(), "identified_on": identified_on.isoformat(),
            "referrer_type": _pick(r, REFERRERS), "local_authority_code": la.code, "region": region_slug(la.region),
            "pathway": codes.pathway(parental), "gender": "male" if r.random() < 0.72 else r.choice(["female"] * 9 + ["other"]),
            "age_at_referral": age, "age_band": codes.age_band(age), "age_disputed": age is not None and r.random() < 0.05,
            "nationality": nationality, "nationality_group": codes.nationality_group(nationality),
            "interpreter_required": nationality != "GB" and r.random() < 0.7, "uasc": nationality != "GB" and r.random() < 0.6,
            "exploitation": {"primary": primary, "others": r.sample(["labour", "sexual", "criminal"], r.randint(0, 1)),
                             "county_lines": primary == "criminal" and r.random() < 0.45},
            "missing_at_referral": missing_at_referral, "nrm_referred": r.random() < 0.92,
            "living_situation": _pick(r, LIVING), "trafficker_contact": r.choice(codes.values(codes.TraffickerContact)),
            "education": r.choice(codes.values(codes.Education)),
            "cjs_involvement": r.sample(["victim", "witness", "accused"], r.choice([0, 0, 0, 1, 1, 2])),
            "timeliness": t.as_dict(), "possible_duplicate_of": [],
        }  # fmt: skip
        s.events.append(_told(c.ReferralReceived.model_validate(data), received_at, self._id()))
        s.referral = s.events[-1][3]
        return data

    def _missing_at_referral(self, s: Story, case: dict[str, Any], received_at: datetime) -> None:
        """Missing when referred: an episode from the referral, most of them ended (before the end) later."""
        r = self.rnd
        episode = self._uuid()
        s.events.append(_told(c.MissingStarted(**case, episode_id=episode, started_at=received_at, at_referral=True,
                                               whereabouts_known=False, reported_to_police=True,
                                               missing_from_care_meeting=False, professional_network_meeting=False),
                              received_at, self._id()))  # fmt: skip
        if r.random() < 0.7:
            back = self._when(received_at, r.expovariate(1 / 20))
            if back < self.end_at:
                s.events.append(_told(c.MissingEnded(**case, episode_id=episode, started_at=received_at, ended_at=back,
                                                     return_interview_offered=True), back, self._id()))  # fmt: skip

    def _allocation(
        self, s: Story, case: dict[str, Any], received_at: datetime, *, region: str
    ) -> tuple[datetime, datetime] | None:
        """When the child exits and when the case is allocated (its event told); None when it is not
        allocated before the exit or the end (awaiting allocation, or the referral still being looked at)."""
        r = self.rnd
        months = min(r.expovariate(1 / 11), 40)
        exit_at = self._when(received_at, max(months * 30.4375, 1))
        if r.random() < 0.08:
            return None
        allocated = self._when(received_at, r.expovariate(1 / 1.2))
        if allocated >= min(exit_at, self.end_at):
            return None
        s.events.append(_told(c.CaseAllocated(**case, allocation_id=self._uuid(), worker_id=self._uuid(), role="direct_worker",
                                              region=region, allocated_at=allocated, reallocation=False,
                                              over_capacity=False), allocated, self._id()))  # fmt: skip
        return allocated, exit_at

    def _exit(self, s: Story, case: dict[str, Any], exit_at: datetime) -> None:
        """The exit, with nothing recorded after it."""
        ev = s.events
        ev[:] = [e for e in ev if e[2] <= exit_at]
        # The case API refuses to close over an open missing episode unless the child is long-term missing.
        started = {e[3]["episode_id"] for e in ev if e[1] == "missing.started" and e[2] <= exit_at}
        ended = {e[3]["episode_id"] for e in ev if e[1] == "missing.ended" and e[2] <= exit_at}
        reason: codes.ExitReason = "long_term_missing" if started - ended else _pick(self.rnd, EXIT_REASONS)
        ev.append(_told(c.CaseExited(**case, exited_at=exit_at, reason=reason, destination=_pick(self.rnd, DESTINATIONS)),
                        exit_at, self._id()))  # fmt: skip

    def _contacts(self, s: Story, case: dict[str, Any], start: datetime, span: float, hard_to_reach: bool) -> None:
        r = self.rnd
        per_month_child = r.choice([0.3, 1, 2, 3, 4]) * self.intensity * (0.3 if hard_to_reach else 1)
        per_month_third = r.choice([2, 4, 5, 7]) * self.intensity
        n = int(per_month_child * span / 30.4375) + int(per_month_third * span / 30.4375)
        first = self._when(start, r.expovariate(1 / 1.5))
        for i in range(n):
            when = first if i == 0 else self._when(start, r.uniform(0, span))
            party: codes.Party = (
                "child" if r.random() < per_month_child / (per_month_child + per_month_third) else _pick(r, PARTIES)
            )
            method = _pick(r, METHODS)
            topics: list[codes.Topic] = r.sample(TOPICS, r.randint(0, 3)) if party == "child" else []
            if when > self.end_at:
                continue  # the first contact, drawn after the period's end: it has not happened yet
            s.events.append(_told(c.ContactRecorded(**case, contact_id=self._uuid(), occurred_at=when,
                                                    outcome="made" if r.random() < 0.85 else "attempted",
                                                    method=method, party=party, topics=topics), when, self._id()))  # fmt: skip

    def _records(self, s: Story, case: dict[str, Any], start: datetime, span: float) -> None:
        r, ev = self.rnd, s.events
        # Episodes never overlap (the case API refuses that with 409): each starts after the last one
        # ended, and none starts while one is open. The same random draws as ever, so the same seed
        # gives the same children.
        started = {e[3]["episode_id"]: e[2] for e in ev if e[1] == "missing.started"}
        ended = {e[3]["episode_id"]: e[2] for e in ev if e[1] == "missing.ended"}
        open_now = bool(set(started) - set(ended))
        last_end = max(ended.values(), default=None)
        for _ in range(int(r.random() < 0.3) + int(r.random() < 0.1)):
            began = self._when(start, r.uniform(0, span))
            episode, length = self._uuid(), r.expovariate(1 / 25)
            if last_end is not None and began <= last_end:
                began = last_end + timedelta(hours=1)
            opened = _told(c.MissingStarted(**case, episode_id=episode, started_at=began, at_referral=False,
                                            whereabouts_known=False, reported_to_police=True,
                                            missing_from_care_meeting=r.random() < 0.5,
                                            professional_network_meeting=r.random() < 0.4), began, self._id())  # fmt: skip
            closed = None
            if length < span and r.random() < 0.85:
                back = self._when(began, length)
                closed = _told(c.MissingEnded(**case, episode_id=episode, started_at=began, ended_at=back,
                                              return_interview_offered=r.random() < 0.8), back, self._id())  # fmt: skip
            if open_now or began >= self.end_at:
                continue  # a child still missing cannot go missing again; nothing is dated in the future
            if closed is not None and closed[2] >= self.end_at:
                closed = None  # moved later than drawn, the return would be in the future: still missing
            ev.append(opened)
            if closed is None:
                open_now = True
            else:
                ev.append(closed)
                last_end = closed[2]
        for stage, after in NRM_STAGES:
            if r.random() < 0.8 and after < span:
                when = self._when(start, r.uniform(after / 2, min(after * 1.5, span)))
                ev.append(_told(c.NrmDecisionRecorded(**case, decision_id=self._uuid(), stage=stage,
                                                      outcome="positive" if r.random() < 0.85 else "negative",
                                                      decided_at=when), when, self._id()))  # fmt: skip
        for _ in range(int(r.expovariate(1 / 6) * self.intensity)):
            when = self._when(start, r.uniform(0, span))
            ev.append(_told(c.AdvocacyRecorded(**case, advocacy_id=self._uuid(),
                                               kind=r.choice(ADVOCACY_KINDS),
                                               area=r.choice(ADVOCACY_AREAS), occurred_at=when),
                            when, self._id()))  # fmt: skip
        for _ in range(int(span / 120)):
            when = self._when(start, r.uniform(0, span))
            ev.append(_told(c.AssessmentRecorded(**case, assessment_id=self._uuid(), assessed_at=when,
                                                 living_situation=_pick(r, LIVING), trafficker_contact="unknown",
                                                 education="unknown", cjs_involvement=[]), when, self._id()))  # fmt: skip
        if r.random() < 0.12:
            when, la = self._when(start, r.uniform(0, span)), r.choice(self.las)
            ev.append(_told(c.CaseMoved(**case, move_id=self._uuid(), moved_at=when,
                                        from_local_authority_code=s.referral["local_authority_code"],
                                        local_authority_code=la.code, region=region_slug(la.region)),
                            when, self._id()))  # fmt: skip
