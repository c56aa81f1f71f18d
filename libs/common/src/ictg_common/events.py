"""CloudEvents 1.0 envelope (structured JSON) and the NATS subject each event goes to.

Events are built with `ictg_common.contracts.make_event` from the typed model of their `data`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7

SOURCES = {"intake": "/ictg/intake", "cases": "/ictg/cases", "webhooks": "/ictg/webhooks"}


def new_id() -> UUID:
    """Time-ordered UUIDv7: ids for events and records alike."""
    return UUID(str(uuid7()))


def event_name(type_: str) -> str:
    """The event's name without prefix and version: `ictg.case.allocated.v1` -> `case.allocated`."""
    return ".".join(type_.split(".")[1:-1])


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    specversion: str = "1.0"
    id: UUID = Field(default_factory=new_id)
    source: str
    type: str
    subject: str
    time: datetime
    datacontenttype: str = "application/json"
    dataschema: str | None = None  # the URI of the JSON Schema of `data` (ictg_common.contracts)
    data: dict[str, Any]
    # CloudEvents distributed-tracing extension: the W3C traceparent of the span that caused the
    # event (`ictg_common.tracing`). Left out of the JSON when there is none (tracing off).
    traceparent: str | None = Field(default=None, exclude_if=lambda v: v is None)

    @property
    def name(self) -> str:
        """`ictg.case.allocated.v1` -> `case.allocated`."""
        return event_name(self.type)

    def nats_subject(self, prefix: str = "ictg") -> str:
        """`ictg.<source>.<event>`, e.g. `ictg.cases.contact.recorded`."""
        source = self.source.rsplit("/", 1)[-1]
        return f"{prefix}.{source}.{self.name}"

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate(json.loads(raw))
