"""The case's domain model (`ictg_cases.domain.case`) without a database: legal and illegal
transitions, the invariants they keep, and the events they record. And the guard that keeps it the
only place a case's status changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from ictg_cases import rules
from ictg_cases.admin.schemas import CaseCounts
from ictg_cases.errors import AllocationConflict, CaseClosed, EpisodeConflict, PathwayConflict, RecordInvalid
from ictg_cases.models import Case
from ictg_common.codes import CASE_STATUSES
from ictg_common.contracts import (
    AssessmentRecorded,
    CaseAllocated,
    CaseExited,
    CaseMoved,
    CaseOpened,
    CasePathwayChanged,
    ContactRecorded,
    MissingEnded,
    MissingStarted,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SRC = Path(__file__).resolve().parents[2] / "services" / "case-api" / "src" / "ictg_cases"


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def new_case(*, missing: bool = False, pathway: str = "direct_worker") -> Case:
    case = Case(
        id=uuid4(), referral_id=uuid4(), received_at=T0, opened_at=T0, region="north_west", pathway=pathway,
        local_authority_code="E08000003", allocation_due_by=h(30), first_contact_due_by=h(30), attributes={},
        personal={}, version=1,
    )  # fmt: skip
    case.open(missing_episode_id=uuid4() if missing else None)
    return case


def allocate(
    case: Case, *, worker: UUID | None = None, role: str = "direct_worker", at: datetime = T0, **kw: Any
) -> CaseAllocated:
    args: dict[str, Any] = {"worker_region": "north_west", "capacity": 5, "caseload": 0, "override_reason": None, **kw}
    return case.allocate(allocation_id=uuid4(), worker_id=worker or uuid4(), role=role, allocated_at=at, **args)


def contact(case: Case, at: datetime) -> ContactRecorded:
    return ContactRecorded(
        case_id=case.id, referral_id=case.referral_id, contact_id=uuid4(), occurred_at=at, outcome="attempted",
        method="phone", party="child",
    )  # fmt: skip


def started(case: Case, at: datetime) -> MissingStarted:
    return MissingStarted(
        case_id=case.id, referral_id=case.referral_id, episode_id=uuid4(), started_at=at, at_referral=False,
        whereabouts_known=False, reported_to_police=True, missing_from_care_meeting=False,
        professional_network_meeting=False,
    )  # fmt: skip


def test_a_new_case_awaits_allocation_and_records_its_opening() -> None:
    case = new_case()
    assert case.status == "awaiting_allocation" and not case.missing
    [opened] = case.events
    assert isinstance(opened, CaseOpened) and opened.status == "awaiting_allocation" and opened.case_id == case.id


def test_a_child_missing_when_referred_opens_with_an_episode() -> None:
    case = new_case(missing=True)
    assert case.missing_since == T0
    [_, missing] = case.pull_events()
    assert isinstance(missing.data, MissingStarted) and missing.data.at_referral and missing.time == T0
    assert case.events == []  # pulled: published once


def test_allocation_sets_the_worker_and_first_allocation_once() -> None:
    case = new_case()
    first = allocate(case, at=h(1))
    assert case.status == "allocated" and case.worker_id == first.worker_id and not first.reallocation
    second = allocate(case, at=h(5))
    assert second.reallocation and case.allocated_at == h(5) and case.first_allocated_at == h(1)
    assert [type(e) for e in case.events] == [CaseOpened, CaseAllocated, CaseAllocated]


def test_illegal_allocations_change_nothing() -> None:
    case = new_case()
    worker = allocate(case, at=h(2)).worker_id
    with pytest.raises(AllocationConflict):
        allocate(case, worker=worker, at=h(3))
    with pytest.raises(RecordInvalid) as early:
        allocate(case, at=h(1))
    assert early.value.errors and early.value.errors[0]["pointer"] == "/allocated_at"
    with pytest.raises(RecordInvalid):
        allocate(case, role="regional_practitioner", at=h(3))  # role does not fit the pathway
    with pytest.raises(RecordInvalid):
        allocate(case, worker_region="london", at=h(3))
    with pytest.raises(RecordInvalid) as full:
        allocate(case, caseload=5, at=h(3))
    assert full.value.errors and full.value.errors[0]["pointer"] == "/override_reason"
    assert allocate(case, caseload=5, override_reason="cover", at=h(3)).over_capacity
    assert len(case.events) == 3 and case.allocated_at == h(3)


def test_a_manager_may_hold_any_pathway() -> None:
    case = new_case(pathway="regional_practitioner")
    allocate(case, role="manager")
    assert case.status == "allocated"


def test_pathway_change_releases_a_guardian_whose_role_no_longer_fits() -> None:
    case = new_case()
    allocate(case, role="direct_worker", at=h(1))
    assert case.change_pathway(pathway="regional_practice_coordinator", changed_at=h(2), current_role="direct_worker")
    assert case.status == "awaiting_allocation" and case.worker_id is None and case.first_allocated_at == h(1)
    changed = case.events[-1]
    assert isinstance(changed, CasePathwayChanged) and changed.unallocated
    with pytest.raises(PathwayConflict):
        case.change_pathway(pathway="regional_practice_coordinator", changed_at=h(3), current_role=None)


def test_pathway_change_keeps_a_manager() -> None:
    case = new_case()
    allocate(case, role="manager", at=h(1))
    assert not case.change_pathway(pathway="regional_practitioner", changed_at=h(2), current_role="manager")
    assert case.status == "allocated" and case.worker_id is not None


def test_the_earliest_contact_is_the_first() -> None:
    case = new_case()
    case.record_contact(contact(case, h(5)))
    case.record_contact(contact(case, h(3)))
    case.record_contact(contact(case, h(9)))
    assert case.first_contact_at == h(3)
    assert [r.time for r in case.pull_events()][1:] == [h(5), h(3), h(9)]


def test_missing_episodes_one_open_at_a_time() -> None:
    case = new_case()
    episode = started(case, h(1))
    case.start_missing(episode, episodes=[])
    assert case.missing_since == h(1)
    with pytest.raises(EpisodeConflict):
        case.start_missing(started(case, h(2)), episodes=[rules.Episode(h(1), None)])
    ended = MissingEnded(
        case_id=case.id, referral_id=case.referral_id, episode_id=episode.episode_id, started_at=h(1), ended_at=h(0.5),
        return_interview_offered=True,
    )  # fmt: skip
    with pytest.raises(RecordInvalid):
        case.end_missing(ended)  # a return before the start
    case.end_missing(ended.model_copy(update={"ended_at": h(4)}))
    assert case.missing_since is None
    with pytest.raises(EpisodeConflict):  # overlapping the recorded one
        case.start_missing(started(case, h(3)), episodes=[rules.Episode(h(1), h(4))])


def test_exit_while_missing_only_for_long_term_missing() -> None:
    case = new_case(missing=True)
    with pytest.raises(EpisodeConflict):
        case.exit(exited_at=h(2), reason="work_completed", destination="none", last_recorded_at=None)
    assert case.status == "awaiting_allocation"
    case.exit(exited_at=h(2), reason="long_term_missing", destination="none", last_recorded_at=None)
    assert case.status == "exited" and case.exited_at == h(2) and isinstance(case.events[-1], CaseExited)


def test_exit_never_before_the_last_record() -> None:
    case = new_case()
    with pytest.raises(RecordInvalid) as early:
        case.exit(exited_at=h(2), reason="work_completed", destination="none", last_recorded_at=h(3))
    assert early.value.errors and early.value.errors[0]["pointer"] == "/exited_at" and not case.closed


def test_a_closed_case_takes_nothing_more() -> None:
    case = new_case()
    case.exit(exited_at=h(2), reason="declined_service", destination="none", last_recorded_at=None)
    before = len(case.events)
    assessment = AssessmentRecorded(
        case_id=case.id, referral_id=case.referral_id, assessment_id=uuid4(), assessed_at=h(3),
        living_situation="family", trafficker_contact="none", education="attending",
    )  # fmt: skip
    for attempt in (
        lambda: allocate(case, at=h(3)),
        lambda: case.record_contact(contact(case, h(3))),
        lambda: case.record(assessment, at=h(3)),
        lambda: case.start_missing(started(case, h(3)), episodes=[]),
        lambda: case.move(
            move_id=uuid4(), moved_at=h(3), local_authority_code="E09000001", region="london", last_moved_at=None
        ),
        lambda: case.change_pathway(pathway="regional_practitioner", changed_at=h(3), current_role=None),
        lambda: case.exit(exited_at=h(3), reason="other", destination="none", last_recorded_at=None),
        case.ensure_open,
    ):
        with pytest.raises(CaseClosed):
            attempt()
    assert len(case.events) == before and case.status == "exited"


def test_moves_change_the_current_authority_never_back_in_time() -> None:
    case = new_case()
    with pytest.raises(RecordInvalid):
        case.move(move_id=uuid4(), moved_at=h(1), local_authority_code="E08000003", region="north_west",
                  last_moved_at=None)  # fmt: skip
    with pytest.raises(RecordInvalid):
        case.move(move_id=uuid4(), moved_at=h(1), local_authority_code="E09000001", region="london", last_moved_at=h(2))
    moved = case.move(move_id=uuid4(), moved_at=h(3), local_authority_code="E09000001", region="london",
                      last_moved_at=h(2))  # fmt: skip
    assert isinstance(moved, CaseMoved) and moved.from_local_authority_code == "E08000003"
    assert (case.local_authority_code, case.region) == ("E09000001", "london")


def test_every_event_names_the_childs_authority_and_region_as_they_stand() -> None:
    case = new_case(missing=True)
    allocate(case, at=h(1))
    case.record_contact(contact(case, h(2)))
    case.move(move_id=uuid4(), moved_at=h(3), local_authority_code="E09000001", region="london", last_moved_at=None)
    case.record_contact(contact(case, h(4)))
    case.exit(exited_at=h(5), reason="long_term_missing", destination="none", last_recorded_at=h(4))
    located = [(type(e).__name__, e.local_authority_code, e.region) for e in case.events]
    assert located == [
        ("CaseOpened", "E08000003", "north_west"), ("MissingStarted", "E08000003", "north_west"),
        ("CaseAllocated", "E08000003", "north_west"), ("ContactRecorded", "E08000003", "north_west"),
        ("CaseMoved", "E09000001", "london"), ("ContactRecorded", "E09000001", "london"),
        ("CaseExited", "E09000001", "london"),
    ]  # fmt: skip


def test_an_event_stored_before_the_location_was_added_still_parses() -> None:
    old = contact(new_case(), h(1)).model_dump(mode="json", exclude={"local_authority_code", "region"})
    parsed = ContactRecorded.model_validate(old)
    assert (parsed.local_authority_code, parsed.region) == (None, None) and not parsed.located()


def test_an_event_of_another_case_is_refused() -> None:
    case, other = new_case(), new_case()
    with pytest.raises(ValueError):
        case.record_contact(contact(other, h(1)))


def test_status_cannot_be_assigned() -> None:
    case = new_case()
    with pytest.raises(AttributeError):
        # mypy lets it through (a hybrid property types a setter): only the run-time refusal stops it.
        case.status = "exited"


def test_a_case_status_changes_in_one_file() -> None:
    """`domain/case.py` is the answer to "where is a case's status changed?": no other module of the
    case API writes `status` or `_status` (nor any of the facts the state machine keeps)."""
    owned = "status|_status|worker_id|first_allocated_at|first_contact_at|missing_since|exited_at|pathway"
    write = re.compile(rf"\bcase\.({owned})\s*=(?!=)|\b_status\s*=(?!=)|\bstatus=\"")
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).as_posix() != "domain/case.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if write.search(line)
    ]
    assert offenders == []


def test_case_counts_are_by_the_shared_statuses() -> None:
    assert tuple(CaseCounts.model_fields) == CASE_STATUSES
