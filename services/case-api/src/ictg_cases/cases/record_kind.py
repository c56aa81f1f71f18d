"""What a kind of case record is (`RecordKind`); the kinds themselves are declared in `ictg_cases.kinds`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ictg_common.contracts import CaseEventData


@dataclass(frozen=True)
class RecordKind:
    """One kind of case record. `time` names the field holding when it happened: the same name in its
    table, its schemas and its event."""

    path: str  # under /v1/cases/{case_id}/
    noun: str  # audit actions `<noun>.read`, and `<noun>.create` for a fact
    row: Any  # the ORM class (a CaseRecord)
    out: type[BaseModel] | None  # the read schema (None: not read on its own)
    entry: str  # its kind in the case's timeline
    time: str
    council: tuple[str, ...] | None = None  # the fields a council sees; None: never shown to councils
    ended: tuple[str, str] | None = None  # (timeline kind, field) of a second instant the record may gain
    tag: str = "records"  # the read and fact routes' tag in the API's documentation
    listed: bool = True  # has the list and one-record read routes
    create: type[BaseModel] | None = None  # a fact's request body
    event: type[CaseEventData] | None = None  # a fact's event
    event_id: str | None = None  # the field of that event naming the record
    doc: str | None = None  # a fact's create route: what it records

    @property
    def fact(self) -> bool:
        return self.event is not None

    @property
    def create_action(self) -> str:
        return f"{self.noun}.create"

    @property
    def dated(self) -> tuple[str, ...]:
        """The fields of the record that are instants."""
        return (self.time, self.ended[1]) if self.ended else (self.time,)

    def event_of(self, row: Any, *, case_id: Any, referral_id: Any) -> CaseEventData:
        """A fact's event for its new `row` (the event's fields are the row's, by name)."""
        assert self.event is not None and self.event_id is not None
        values = {c.key: getattr(row, c.key) for c in row.__table__.columns}
        return self.event.model_validate(
            {**values, "case_id": case_id, "referral_id": referral_id, self.event_id: row.id}
        )
