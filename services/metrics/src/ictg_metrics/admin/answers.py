"""The answers of the admin endpoints (`/v1/admin/rebuild`, `/v1/admin/reconcile`), built as these models:
each endpoint's `response_model` says what each field means, and the answer goes out as built
(`ictg_metrics.wire`: fields in the order given, those never given left out)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from ..wire import Count, Number, Shaped


class StreamReplay(Shaped):
    """`from_stream=true`: what re-reading the event stream from its start found."""

    read: Count = Field(description="Events read from the stream.")
    added: Count = Field(description="Events that were missing here and are now stored.")
    unreadable: Count = Field(description="Messages that are not events of the contract (skipped).")


class RebuildFigures(Shaped):
    """What a finished rebuild did."""

    model_config = ConfigDict(extra="allow")
    children: Count = Field(description="Children in the rebuilt tables.")
    events: Count = Field(description="Stored events replayed.")
    refolded_at_swap: Count = Field(description="Children folded again at the swap (events stored meanwhile).")
    started_at: str = Field(description="When the build started (ISO 8601, UTC).")
    finished_at: str = Field(description="When the new tables were swapped in (ISO 8601, UTC).")
    seconds: Number = Field(description="How long it took.")
    replayed: StreamReplay | None = Field(default=None, description="With `from_stream=true`: the stream re-read.")


class RebuildStarted(Shaped):
    """`POST /v1/admin/rebuild`: running (202; poll `GET /v1/admin/rebuild`), or done with `wait=true` (200)."""

    status: Literal["running", "done"] = Field(description="`running` (202) or `done` (200, `wait=true`).")
    result: RebuildFigures | None = Field(default=None, description="`wait=true`: the rebuild's figures.")


class RebuildStatus(Shaped):
    """The last rebuild, whichever replica ran it."""

    status: Literal["idle", "running", "done", "failed"] = Field(
        description="`idle` (never run), `running`, `done` or `failed` (a replica that stopped mid-rebuild too)."
    )
    requested_by: str | None = Field(default=None, description="Who started it (the token's subject).")
    started_at: datetime | None = Field(default=None, description="When it started.")
    finished_at: datetime | None = Field(default=None, description="When it ended, once it has.")
    result: RebuildFigures | None = Field(default=None, description="`done`: its figures.")
    error: str | None = Field(default=None, description="`failed`: why.")


class Difference(Shaped):
    metrics: Count = Field(description="Children in this status here.")
    cases: Count = Field(description="Cases in this status in the case API.")


class Reconciliation(Shaped):
    """Children per status here against the case API's own counts."""

    consistent: bool = Field(description="True when every status has the same count on both sides.")
    metrics: dict[str, int] = Field(description="Children per status here.")
    cases: dict[str, int] = Field(description="Cases per status in the case API.")
    differences: dict[str, Difference] = Field(description="The statuses whose counts differ, with both counts.")
    metrics_total: Count = Field(description="Children here.")
    cases_total: Count = Field(description="Cases in the case API.")
