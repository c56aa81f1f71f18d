"""A case's life: the one place where its status and the facts that go with it change.

`CaseLife` is the domain model of a case (as cosmicpython's `Product`): no I/O, no session. The ORM
`ictg_cases.models.Case` inherits it, so a service loads the row, calls one method here, lets the
session save the row; the unit of work (`cases/unit_of_work.py`) publishes what the case recorded.

The state machine:

    (open) ──> awaiting_allocation ──allocate──> allocated ──change_pathway (role no longer fits)──┐
                     │    ^─────────────────────────────────────────────────────────────────────────┘
                     └──────────────── exit (from either) ──> exited (takes nothing more)

and alongside it: the current allocation (`worker_id`, `allocated_at`; `first_allocated_at` set
once), the open missing episode (`missing_since`), the first contact (`first_contact_at`, the
earliest recorded), the current local authority and region, the pathway, and the exit.

`status` is read-only on the ORM row: it is written here (`_status`) and nowhere else
(tests/cases/test_domain_case.py greps the services for it). Each method checks its invariants
before changing anything, raising the typed errors of `ictg_cases.errors`; the checks that need
the database (the worker's caseload, earlier episodes, the latest move or record) are loaded by the
service and passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from uuid import UUID

from ictg_common.codes import ALLOCATED, AWAITING_ALLOCATION, EXITED, Pathway, WorkerRole
from ictg_common.contracts import (
    CaseAllocated,
    CaseEventData,
    CaseExited,
    CaseMoved,
    CaseOpened,
    CasePathwayChanged,
    ContactRecorded,
    MissingEnded,
    MissingStarted,
)

from .. import rules
from ..errors import AllocationConflict, CaseClosed, EpisodeConflict, PathwayConflict, RecordInvalid

if TYPE_CHECKING:
    from datetime import date

    from sqlalchemy.orm import Mapped

    from ictg_common.codes import ExitDestination, ExitReason


class Recorded(NamedTuple):
    """An event the case recorded, and when it happened in the world (the CloudEvent's `time`)."""

    data: CaseEventData
    time: datetime


_D = TypeVar("_D", bound=CaseEventData)


class CaseLife:
    """The domain model of a case; the ORM `Case` maps its state onto the `case` table."""

    if TYPE_CHECKING:  # the state, declared (and mapped) by the ORM `Case`
        id: Mapped[UUID]
        referral_id: Mapped[UUID]
        _status: Mapped[str]
        received_at: Mapped[datetime]
        opened_at: Mapped[datetime]
        region: Mapped[str]
        pathway: Mapped[str]
        local_authority_code: Mapped[str]
        worker_id: Mapped[UUID | None]
        allocated_at: Mapped[datetime | None]
        first_allocated_at: Mapped[datetime | None]
        first_contact_at: Mapped[datetime | None]
        missing_since: Mapped[datetime | None]
        turns_18_on: Mapped[date | None]
        exited_at: Mapped[datetime | None]
        referral_withdrawn_at: Mapped[datetime | None]
        referral_withdrawal_reason: Mapped[str | None]

    # ---- what the case recorded ----

    @property
    def _recorded(self) -> list[Recorded]:
        # Rows loaded by the ORM skip __init__: the list is made on first use.
        recorded: list[Recorded] = self.__dict__.setdefault("_recorded_events", [])
        return recorded

    @property
    def events(self) -> list[CaseEventData]:
        """The events recorded since the last `pull_events`, in order."""
        return [r.data for r in self._recorded]

    def pull_events(self) -> list[Recorded]:
        """The recorded events (with their times), forgotten here: the caller publishes them."""
        pulled = list(self._recorded)
        self._recorded.clear()
        return pulled

    def _record(self, data: _D, *, at: datetime) -> _D:
        # Every case event names the child's authority and region as they stand once the event has
        # changed the case, so a subscriber routes it without a lookup: after a move, the new ones.
        located = data.model_copy(update={"local_authority_code": self.local_authority_code, "region": self.region})
        self._recorded.append(Recorded(located, at))
        return located

    def _ids(self) -> dict[str, Any]:
        return {"case_id": self.id, "referral_id": self.referral_id}

    # ---- queries ----

    @property
    def closed(self) -> bool:
        return self._status == EXITED

    @property
    def missing(self) -> bool:
        return self.missing_since is not None

    def ensure_open(self) -> None:
        """A closed case accepts no new records (409)."""
        if self.closed:
            raise CaseClosed("The child has left the service: this case accepts no new records.")

    # ---- transitions ----

    def open(self, *, missing_episode_id: UUID | None = None) -> None:
        """A new case awaits allocation; a child missing when referred has an episode open from
        `received_at` (`missing_episode_id`, marked `at_referral`)."""
        self._status = AWAITING_ALLOCATION
        self._record(
            CaseOpened(**self._ids(), status=AWAITING_ALLOCATION, region=self.region, pathway=_pathway(self.pathway),
                       opened_at=self.opened_at),
            at=self.received_at,
        )  # fmt: skip
        if missing_episode_id is not None:
            self.missing_since = self.received_at
            self._record(
                MissingStarted(**self._ids(), episode_id=missing_episode_id, started_at=self.received_at,
                               at_referral=True, whereabouts_known=False, reported_to_police=False,
                               missing_from_care_meeting=False, professional_network_meeting=False),
                at=self.received_at,
            )  # fmt: skip

    def allocate(
        self,
        *,
        allocation_id: UUID,
        worker_id: UUID,
        role: str,
        worker_region: str,
        capacity: int,
        caseload: int,
        override_reason: str | None,
        allocated_at: datetime,
    ) -> CaseAllocated:
        """Allocate (or reallocate) the case to a worker whose role fits the pathway, in the case's
        region, within capacity unless `override_reason` is given (`caseload`: their open cases now)."""
        self.ensure_open()
        errors = []
        if self.allocated_at is not None and allocated_at < self.allocated_at:
            errors.append(
                rules.err(
                    "/allocated_at", f"must not be before the current allocation ({self.allocated_at.isoformat()})"
                )
            )
        if not rules.role_fits(role, self.pathway):
            errors.append(rules.err("/worker_id", f"a {role} cannot hold a case on the {self.pathway} pathway"))
        elif worker_region != self.region:
            errors.append(rules.err("/worker_id", f"the worker is in {worker_region}; the case is in {self.region}"))
        if errors:
            raise RecordInvalid(errors)
        if self.worker_id == worker_id:
            raise AllocationConflict("The case is already allocated to this worker.")
        over = rules.over_capacity(caseload=caseload, capacity=capacity)
        if over and override_reason is None:
            raise RecordInvalid(
                [
                    rules.err(
                        "/override_reason",
                        f"the worker is at capacity ({caseload} of {capacity}): give an override_reason",
                    )
                ]
            )
        reallocation = self.worker_id is not None
        self.worker_id = worker_id
        self.allocated_at = allocated_at
        self.first_allocated_at = self.first_allocated_at or allocated_at
        self._status = ALLOCATED
        data = CaseAllocated(
            **self._ids(), allocation_id=allocation_id, worker_id=worker_id, role=_role(role), region=self.region,
            allocated_at=allocated_at, reallocation=reallocation, over_capacity=over,
        )  # fmt: skip
        return self._record(data, at=allocated_at)

    def change_pathway(self, *, pathway: str, changed_at: datetime, current_role: str | None) -> bool:
        """Move the case to another pathway. A guardian whose role (`current_role`) no longer fits is
        released: the case awaits allocation again. True if so."""
        self.ensure_open()
        if self.pathway == pathway:
            raise PathwayConflict(f"The case is already on the {pathway} pathway.")
        self.pathway = pathway
        unallocated = False
        if self._status == ALLOCATED and current_role is not None and not rules.role_fits(current_role, pathway):
            self.worker_id = None
            self._status = AWAITING_ALLOCATION
            unallocated = True
        self._record(
            CasePathwayChanged(
                **self._ids(), pathway=_pathway(pathway), changed_at=changed_at, unallocated=unallocated
            ),
            at=changed_at,
        )
        return unallocated

    def record_contact(self, data: ContactRecorded) -> None:
        """Any contact, attempted or made, with anyone, meets the first-contact deadline: the
        earliest one recorded counts."""
        self._check(data)
        if self.first_contact_at is None or data.occurred_at < self.first_contact_at:
            self.first_contact_at = data.occurred_at
        self._record(data, at=data.occurred_at)

    def record(self, data: CaseEventData, *, at: datetime) -> None:
        """A fact: a record that changes nothing on the case but its history (an assessment, an NRM
        decision, advocacy), which happened `at` (its kind's time, `ictg_cases.kinds`)."""
        self._check(data)
        self._record(data, at=at)

    def start_missing(self, data: MissingStarted, *, episodes: Iterable[rules.Episode]) -> None:
        """The child goes missing: one open episode at a time, never overlapping a recorded one."""
        self._check(data)
        conflict = rules.episode_conflict(episodes, data.started_at)
        if conflict is None and self.missing_since is not None:
            conflict = f"an episode started at {self.missing_since.isoformat()} is still open: record the return first"
        if conflict is not None:
            raise EpisodeConflict(f"The child cannot go missing at {data.started_at.isoformat()}: {conflict}.")
        self.missing_since = data.started_at
        self._record(data, at=data.started_at)

    def end_missing(self, data: MissingEnded) -> None:
        """The child returns from the open episode `data.episode_id` (started `data.started_at`)."""
        self._check(data)
        if data.ended_at < data.started_at:
            raise RecordInvalid(
                [rules.err("/ended_at", f"must not be before the episode started ({data.started_at.isoformat()})")]
            )
        self.missing_since = None
        self._record(data, at=data.ended_at)

    def move(self, *, move_id: UUID, moved_at: datetime, local_authority_code: str, region: str,
             last_moved_at: datetime | None, missing_episode_id: UUID | None = None) -> CaseMoved:  # fmt: skip
        """The child moves to another local authority (perhaps region); never slotted in before the
        latest move (`last_moved_at`), whose authority is the case's current one. `missing_episode_id`: the
        episode open now, which the event names: the new authority's view shows it (it overlaps the new period,
        even when the move is dated before it began), and the old authority was told of it when it began."""
        self.ensure_open()
        if local_authority_code == self.local_authority_code:
            raise RecordInvalid([rules.err("/local_authority_code", "the child is already in this local authority")])
        if last_moved_at is not None and moved_at < last_moved_at:
            raise RecordInvalid(
                [rules.err("/moved_at", f"must not be before the last move ({last_moved_at.isoformat()})")]
            )
        data = CaseMoved(
            **self._ids(), move_id=move_id, moved_at=moved_at, from_local_authority_code=self.local_authority_code,
            local_authority_code=local_authority_code, region=region, missing_episode_id=missing_episode_id,
            missing_since=self.missing_since if missing_episode_id is not None else None,
        )  # fmt: skip
        self.local_authority_code, self.region = local_authority_code, region
        return self._record(data, at=moved_at)

    def exit(self, *, exited_at: datetime, reason: ExitReason, destination: ExitDestination,
             last_recorded_at: datetime | None) -> None:  # fmt: skip
        """The child leaves the service: the case closes. Never before the case's last record
        (`last_recorded_at`), and not while the child is missing unless for `long_term_missing`
        (the episode would otherwise stay open for ever: a closed case takes no return)."""
        self.ensure_open()
        if last_recorded_at is not None and exited_at < last_recorded_at:
            raise RecordInvalid(
                [rules.err("/exited_at", f"must not be before the case's last record ({last_recorded_at.isoformat()})")]
            )
        if reason == "referral_withdrawn" and self.referral_withdrawn_at is None:
            raise RecordInvalid([rules.err("/reason", "the referrer has not withdrawn this child's referral")])
        if self.missing and reason != "long_term_missing":
            raise EpisodeConflict(
                "The child is missing: record the return first, or exit with reason long_term_missing."
            )
        self._status = EXITED
        self.exited_at = exited_at
        self._record(
            CaseExited(**self._ids(), exited_at=exited_at, reason=reason, destination=destination), at=exited_at
        )

    def referral_withdrawn(self, *, withdrawn_at: datetime, reason: str, last_recorded_at: datetime | None) -> bool:
        """The referrer withdrew the referral: the case says so from now on. Before any guardian was allocated,
        and while the child is not missing, the case exits (`referral_withdrawn`, destination `none`) at the
        withdrawal (or at its last record, if a record is dated after it); otherwise the guardian (or a manager)
        decides with the child, and may exit with the same reason. True if the case exited. A closed case only
        takes the note (a withdrawal once told changes nothing more)."""
        if self.referral_withdrawn_at is None:
            self.referral_withdrawn_at, self.referral_withdrawal_reason = withdrawn_at, reason
        if self.closed or self.first_allocated_at is not None or self.missing:
            return False
        self.exit(exited_at=max(withdrawn_at, last_recorded_at or withdrawn_at), reason="referral_withdrawn",
                  destination="none", last_recorded_at=last_recorded_at)  # fmt: skip
        return True

    def _check(self, data: CaseEventData) -> None:
        self.ensure_open()
        if data.case_id != self.id or data.referral_id != self.referral_id:
            raise ValueError(f"{type(data).__name__} is about case {data.case_id}, not {self.id}")


def _pathway(value: str) -> Pathway:
    return value  # type: ignore[return-value]  # the row's pathway was validated as one on the way in


def _role(value: str) -> WorkerRole:
    return value  # type: ignore[return-value]  # the worker's role was validated when the worker was created
