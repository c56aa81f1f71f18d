"""The planted children of tests/metrics/test_release_attacks.py as plain records: their events (to feed
metrics) and, apart from the code under test, who each published count counts as at a release (the truth
the attacker is checked against) and the timeliness values behind a published quantile."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from ictg_common import clock, codes
from ictg_common.settings import LONG_TERM_MISSING_DAYS
from ictg_metrics.dimensions import MONTH, financial_year
from tests.support.metrics_events import LONDON, Child
from tests.support.release_relations import Pop, month_of

STATS = ("referral_delay_days", "referral_delay_working_days", "hours_to_allocation", "hours_to_first_contact",
         "days_to_first_contact")  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One child: what is recorded at referral and after (allocation, first contact, missing episodes,
    NRM decisions, exit), `late` if recorded only after the first release, `group` a planted small group."""

    received_at: datetime
    delay_days: int = 1  # received_on - identified_on
    la: str = "E08000003"
    region: str = "north_west"
    referrer: str = "police"
    gender: str = "male"
    age: int = 15
    nationality: str = "VN"
    uasc: bool = True
    exploitation: str = "criminal"
    missing_at_referral: bool = False
    allocated_after: timedelta | None = None
    contacted_after: timedelta | None = None
    missing: tuple[tuple[datetime, datetime], ...] = ()  # episodes in service (start, end)
    interviews: tuple[tuple[datetime, str] | None, ...] = ()  # each episode's return interview (offered_at, outcome)
    nrm: tuple[tuple[datetime, str, str], ...] = ()  # (when, stage, outcome)
    exit: tuple[datetime, str, str] | None = None  # (when, reason, destination)
    late: bool = False
    group: str = ""

    @property
    def received_on(self) -> date:
        return clock.london_date(self.received_at)

    @property
    def identified_on(self) -> date:
        return self.received_on - timedelta(days=self.delay_days)

    def child(self, seed: str) -> Child:
        """Its events, under ids fixed by `seed` (so are its record key and every published value)."""
        attrs = {"local_authority_code": self.la, "region": self.region, "referrer_type": self.referrer,
                 "gender": self.gender, "age_at_referral": self.age, "age_band": codes.age_band(self.age),
                 "nationality": self.nationality, "nationality_group": codes.nationality_group(self.nationality),
                 "uasc": self.uasc, "missing_at_referral": self.missing_at_referral,
                 "exploitation": {"primary": self.exploitation, "others": [], "county_lines": False}}  # fmt: skip
        c = Child(self.received_at, identified_on=self.identified_on, attrs=attrs,
                  referral_id=str(uuid5(NAMESPACE_URL, f"ictg-release-attack/{seed}/referral")),
                  case_id=str(uuid5(NAMESPACE_URL, f"ictg-release-attack/{seed}/case")))  # fmt: skip
        if self.allocated_after is not None:
            c.allocate(self.received_at + self.allocated_after)
        if self.contacted_after is not None:
            c.contact(self.received_at + self.contacted_after)
        for k, (start, end) in enumerate(self.missing):
            c.missing(start, end, interview=self.interviews[k] if k < len(self.interviews) else None)
        for when, stage, outcome in self.nrm:
            c.nrm(when, stage, outcome)
        if self.exit is not None:
            c.exit(*self.exit)
        return c


@dataclass(frozen=True)
class Facts:
    """A record as at a release's end: every value a published count groups or filters it by."""

    dims: dict[str, Any]
    counts: frozenset[str]  # the timeliness counts it is in
    received: str  # month
    exited: str | None  # month, if exited by then
    stats: dict[str, float | None]


RETURN_INTERVIEW_DUE = timedelta(hours=72)


def _end(day: date) -> datetime:
    """The end of a London day (midnight starting the next)."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=LONDON)


def facts(r: Record, as_at: date) -> Facts:
    on = r.received_on
    exit_on = clock.london_date(r.exit[0]) if r.exit and clock.london_date(r.exit[0]) <= as_at else None
    upto = min(as_at, exit_on or as_at)
    days = (upto - on).days
    band = next((b for upper, b in ((3, "0-3"), (6, "3-6"), (12, "6-12"), (18, "12-18")) if days <= upper * MONTH),
                "18+")  # fmt: skip
    in_service = [s for s, _ in r.missing if s > r.received_at and (r.exit is None or s < r.exit[0])]
    episodes: list[tuple[date, date | None]] = [(clock.london_date(s), clock.london_date(e)) for s, e in r.missing]
    if r.missing_at_referral:
        episodes.append((on, None))  # open: Child records no return
    ltm = any(s <= upto and (upto - s).days >= LONG_TERM_MISSING_DAYS
              and (f is None or f > upto or (f - s).days >= LONG_TERM_MISSING_DAYS) for s, f in episodes)  # fmt: skip
    # each return whose 72 hours had passed by as_at (by the London day they did), and its interview offered in time
    returns = [
        k < len(r.interviews) and (i := r.interviews[k]) is not None and i[1] != "not_offered"
        and i[0] < e + RETURN_INTERVIEW_DUE
        for k, (_s, e) in enumerate(r.missing) if clock.london_date(e + RETURN_INTERVIEW_DUE) <= as_at
    ]  # fmt: skip
    nrm = {}
    for stage, name in (
        ("reasonable_grounds", "nrm_reasonable_grounds"),
        ("conclusive_grounds", "nrm_conclusive_grounds"),
    ):
        decided = sorted((w, o) for w, s, o in r.nrm if s == stage and clock.london_date(w) <= as_at)
        nrm[name] = decided[-1][1] if decided else "pending"
    exited = exit_on is not None
    dims = {
        "referral_month": month_of(on), "referral_quarter": f"{on.year}-Q{(on.month - 1) // 3 + 1}",
        "referral_year": str(on.year), "referral_financial_year": financial_year(on),
        "region": r.region, "local_authority": r.la, "gender": r.gender, "age_band": codes.age_band(r.age),
        "nationality_group": codes.nationality_group(r.nationality), "uasc": r.uasc,
        "primary_exploitation": r.exploitation, "referrer_type": r.referrer,
        "missing_at_referral": r.missing_at_referral,
        "missing_in_service": bool(in_service) and clock.london_date(min(in_service)) <= as_at,
        "long_term_missing": ltm, **nrm,
        "return_interview_within_72h": ("yes" if all(returns) else "no") if returns else "no_return", "months_in_service_band": band,
        "exit_reason": r.exit[1] if exited and r.exit else None,
        "exit_destination": r.exit[2] if exited and r.exit else None,
    }  # fmt: skip
    t = clock.timeliness(received_at=r.received_at, identified_on=r.identified_on)
    allocated = r.received_at + r.allocated_after if r.allocated_after is not None else None
    contacted = r.received_at + r.contacted_after if r.contacted_after is not None else None
    allocated = allocated if allocated and clock.london_date(allocated) <= as_at else None
    contacted = contacted if contacted and clock.london_date(contacted) <= as_at else None
    counts = {"children"}
    if r.delay_days <= 1:
        counts.add("referral_deadline_met")
    for name, done, due in (("allocation", allocated, t.allocation_due_by),
                            ("first_contact", contacted, t.first_contact_due_by)):  # fmt: skip
        if done is not None:
            counts.add("hours_to_allocation_count" if name == "allocation" else "hours_to_first_contact_count")
            if done < due:
                counts.add(f"{name}_deadline_met")
        if done is not None or due <= _end(as_at):
            counts.add(f"{name}_deadline_decided")
    stats: dict[str, float | None] = {
        "referral_delay_days": r.delay_days,
        "referral_delay_working_days": clock.working_days_between(r.identified_on, on),
        "hours_to_allocation": (allocated - r.received_at).total_seconds() / 3600 if allocated else None,
        "hours_to_first_contact": (contacted - r.received_at).total_seconds() / 3600 if contacted else None,
        "days_to_first_contact": (clock.london_date(contacted) - on).days if contacted else None,
    }
    return Facts(dims, frozenset(counts), month_of(on), month_of(exit_on) if exit_on else None, stats)


class Truth:
    """Who each population counts as at one release: indices into `records`, of those recorded by then
    (the late ones only with `late`)."""

    def __init__(self, records: Sequence[Record], as_at: date, *, late: bool) -> None:
        self.as_at = as_at
        self.facts = {i: facts(r, as_at) for i, r in enumerate(records) if late or not r.late}
        self.by_received: dict[str, list[int]] = defaultdict(list)
        self.by_exit: dict[str, list[int]] = defaultdict(list)
        for i, f in self.facts.items():
            self.by_received[f.received].append(i)
            if f.exited:
                self.by_exit[f.exited].append(i)
        self._cache: dict[Pop, frozenset[int]] = {}

    def members(self, pop: Pop) -> frozenset[int]:
        """The indices (into the records given) of the children `pop` counts."""
        if pop not in self._cache:
            self._cache[pop] = frozenset(self._members(pop))
        return self._cache[pop]

    def _members(self, pop: Pop) -> Iterable[int]:
        if pop.basis == "stock":
            (month,) = pop.months
            return (i for i, f in self.facts.items() if f.received <= month and not (f.exited and f.exited <= month)
                    and self._where(f, pop))  # fmt: skip
        if pop.basis == "referral":
            candidates: Iterable[int] = (i for m in pop.months for i in self.by_received.get(m, ()))
        elif pop.basis == "exit":
            candidates = (i for m in pop.months for i in self.by_exit.get(m, ()))
        else:
            candidates = self.facts
        return (i for i in candidates if self._where(self.facts[i], pop))

    @staticmethod
    def _where(f: Facts, pop: Pop) -> bool:
        if pop.field != "in_service_end" and pop.field not in f.counts:
            return False
        if pop.exited and f.exited is None:
            return False
        if pop.geo is not None and f.dims[pop.geo[0]] != pop.geo[1]:
            return False
        return all(f.dims[d] == v for d, v in pop.dims)

    def quantiles(self, members: Iterable[int], stat: str) -> tuple[int | None, ...]:
        """The published median, p75 and p90 of a statistic over these children (percentile_cont, rounded to
        2 places, then to a whole number half up), None where there is no value."""
        values = sorted(v for i in members if (v := self.facts[i].stats[stat]) is not None)
        return tuple(published_quantile(values, q) for q in (0.5, 0.75, 0.9))


def published_quantile(values: Sequence[float], q: float) -> int | None:
    if not values:
        return None
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    exact = values[low] + (values[high] - values[low]) * (position - low)
    return math.floor(round(exact, 2) + 0.5)
