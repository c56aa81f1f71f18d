"""`/v1/admin/rebuild` and `/v1/admin/reconcile` (scope metrics:admin), each use audited."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ictg_common import audit
from ictg_common.auth import Actor, require
from ictg_common.errors import Conflict, ServiceUnavailable
from ictg_common.service import SessionDep

from ..models import SCHEMA
from ..runtime import MetricsRuntimeDep
from ..settings import MetricsSettings
from . import status
from .answers import RebuildFigures, RebuildStarted, RebuildStatus, Reconciliation
from .rebuild import RebuildRunning, rebuild
from .reconcile import CasesUnavailable, case_counts, compare, metrics_counts
from .replay import replay_stream
from .status import RebuildJob

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Admin = Annotated[Actor, require("metrics:admin")]
log = logging.getLogger(__name__)


@router.post(
    "/rebuild", status_code=202, response_model=RebuildStarted,
    responses={200: {"model": RebuildStarted, "description": "`wait=true`: the rebuild is done; its figures."}},
)  # fmt: skip
async def start_rebuild(
    request: Request,
    runtime: MetricsRuntimeDep,
    actor: Admin,
    wait: Annotated[
        bool, Query(description="true: answer 200 with the result once the rebuild is done, not 202 at once.")
    ] = False,
    from_stream: Annotated[
        bool,
        Query(description="true: first re-read the event stream from its start and store any event missing here."),
    ] = False,
) -> JSONResponse:
    """Replay every stored event into fresh tables and swap them in; queries answer meanwhile.

    `from_stream=true` first re-reads the JetStream stream from its start and stores any event
    missing here. Answers 202 at once (poll `GET /v1/admin/rebuild`), or 200 with the result with
    `wait=true`.
    """
    settings = runtime.settings
    url = settings.database_url
    # The status lives in the database (admin/status.py): any replica refuses a second start.
    job = await RebuildJob.claim(url, requested_by=actor.sub)
    if job is None:
        raise Conflict("A rebuild is already running.")
    # In a transaction of its own: the rebuild outlives the request (and may fail).
    try:
        await audit.record_refusal(
            runtime.sessionmaker, schema=SCHEMA, actor=actor, action="rebuild.start",
            resource="/v1/admin/rebuild", outcome="accepted", reason=request.url.query[:1000] or None,
        )  # fmt: skip
    except BaseException:
        await job.finish(error="the start could not be audited")
        raise

    run = _run(job, settings, from_stream=from_stream)  # the rebuild outlives the request unless waited for
    if wait:
        try:
            return JSONResponse(
                RebuildStarted(status="done", result=RebuildFigures.model_validate(await run)).wire(), status_code=200
            )
        except RebuildRunning:
            raise Conflict("A rebuild is already running.") from None
    task = asyncio.create_task(run)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # keep the failure out of the loop's log
    rebuilds = runtime.extras.rebuilds  # held until done: the loop keeps only a weak reference to a task
    rebuilds.add(task)
    task.add_done_callback(rebuilds.discard)
    return JSONResponse(
        RebuildStarted(status="running").wire(), status_code=202, headers={"Location": "/v1/admin/rebuild"}
    )


async def _run(job: RebuildJob, settings: MetricsSettings, *, from_stream: bool) -> dict[str, Any]:
    """The claimed rebuild (after re-reading the stream with `from_stream`), its end recorded on `job`
    however it ends: done with its result, or failed with why."""
    result: dict[str, Any] | None = None
    error = "stopped before it finished"
    try:
        replayed = None
        if from_stream:
            replayed = await replay_stream(settings.database_url, settings.nats_url, stream=settings.nats_stream,
                                           subject_prefix=settings.subject_prefix,
                                           credentials=settings.nats_credentials)  # fmt: skip
        result = (await rebuild(settings.database_url)).as_dict() | ({"replayed": replayed} if replayed else {})
        return result
    except RebuildRunning:
        error = "another rebuild holds the lock"
        raise
    except Exception as exc:
        log.exception("rebuild failed")
        error = repr(exc)
        raise
    finally:
        await (job.finish(result=result) if result is not None else job.finish(error=error))


@router.get("/rebuild", response_model_exclude_unset=True)
async def rebuild_status(session: SessionDep, actor: Admin) -> RebuildStatus:
    """The last rebuild, whichever replica ran it: idle, running, done (with figures) or failed."""
    return await status.read(session)


@router.get("/reconcile")
async def reconcile(runtime: MetricsRuntimeDep, session: SessionDep, actor: Admin) -> Reconciliation:
    """Children per status here against the case API's own counts; `consistent` once drained."""
    try:
        theirs = await case_counts(runtime.extras.cases)
    except CasesUnavailable as exc:
        raise ServiceUnavailable(f"The case API did not answer: {exc}", headers={"Retry-After": "10"}) from None
    await audit.record(session, schema=SCHEMA, actor=actor, action="reconcile.run", resource="/v1/admin/reconcile")
    result = compare(await metrics_counts(session), theirs)
    # Children counted differently here and in the case API, for Prometheus (ictg_reconcile_mismatches).
    off = sum(abs(d["metrics"] - d["cases"]) for d in result["differences"].values())
    runtime.telemetry.reconciled("metrics_vs_cases", off)
    return Reconciliation.model_validate(result)
