from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema

from ictg_common import pagination
from ictg_common.auth import Actor, require
from ictg_common.codes import values
from ictg_common.idempotency import Idempotency, documented, idempotent
from ictg_common.inputs import QuerySince, StorableText, query_time
from ictg_common.preconditions import etag
from ictg_common.service import SessionDep

from ..models import idempotency
from ..runtime import IntakeRuntimeDep
from . import service
from .repository import Filters
from .schemas import Referral, ReferralCreate, ReferralPage, ReferralStatus

router = APIRouter(prefix=service.COLLECTION, tags=["referrals"])

Writer = Annotated[Actor, require("referrals:write", "referrals:import")]
Reader = Annotated[Actor, require("referrals:read", "referrals:write")]
Idempotent = Annotated[Idempotency, idempotent(idempotency)]


@router.post(
    "",
    status_code=201,
    response_model=Referral,
    responses=documented(
        {
            201: {
                "description": "Received: the stored referral, with its `Location`. A retry with the same "
                "`Idempotency-Key` answers this again, with `Idempotency-Replayed: true`.",
                "headers": {
                    "Location": {"description": "The referral's URL.", "schema": {"type": "string"}},
                    "Idempotency-Replayed": {
                        "description": "`true` when this answer is the first one again (a retry), absent otherwise.",
                        "schema": {"type": "string", "enum": ["true"]},
                    },
                },
            },
            403: {"description": "Missing scope; or `received_at` without `referrals:import`; or no organisation"},
            422: {"description": "Validation failed"},
        }
    ),
)
async def create_referral(
    body: ReferralCreate,
    response: Response,
    session: SessionDep,
    actor: Writer,
    idem: Idempotent,
    runtime: IntakeRuntimeDep,
) -> Referral | JSONResponse:
    """Refer a child. The referral is filed under the organisation your token names, and the
    timeliness clock starts at `received_at`. Earlier referrals of possibly the same child are listed
    in `possible_duplicate_of`. A case opens for it at once; follow it with `GET /v1/referrals/{id}`."""
    if (replay := await idem.replay(session, action=service.CREATE)) is not None:
        return replay  # a retry of a finished request: its first answer again
    out = await service.create(session, body, actor=actor, settings=runtime.settings, refusals=runtime.sessionmaker)
    response.headers["Location"] = service.location(out.id)
    response.headers["ETag"] = etag(out.version)
    return await idem.save(session, out, response)  # remembered with its Location, in the same transaction


MAX_IDS = 100


ReferralIdPath = Annotated[UUID, Path(description="The referral's id, from `POST /v1/referrals` or its `Location`.")]


@router.get(
    "/{referral_id}",
    response_model=Referral,
    responses={
        200: {
            "headers": {
                "ETag": {"description": "The referral's version, for `If-Match`.", "schema": {"type": "string"}}
            }
        },
        404: {"description": "Not found (or not yours)"},
    },
)
async def get_referral(
    referral_id: ReferralIdPath, response: Response, session: SessionDep, actor: Reader, runtime: IntakeRuntimeDep
) -> Referral:
    """One referral, with how its case stands (`status` and its dates). A first responder sees its own
    organisation's referrals; any other answers 404. Its `ETag` is what a correction or withdrawal sends as
    `If-Match`."""
    out = await service.read(session, referral_id, actor=actor, refusals=runtime.sessionmaker)
    response.headers["ETag"] = etag(out.version)
    return out


@router.get("", response_model=ReferralPage)
async def list_referrals(
    session: SessionDep,
    actor: Reader,
    received_since: Annotated[
        QuerySince | None,
        Query(
            description="Only referrals received at or after this time (RFC 3339 with an offset), or this day "
            "(`2026-11-01`: from midnight in London)."
        ),
    ] = None,
    reference: Annotated[
        StorableText | None,
        Query(max_length=50, description="Only those with this `referrer.reference` (letter case aside)."),
        WithJsonSchema({"type": "string", "maxLength": 50}),  # optional, never null: a query value is text
    ] = None,
    status: Annotated[
        list[ReferralStatus] | None,
        Query(description="Only those whose case stands so; repeat it for any of several."),
        WithJsonSchema({"type": "array", "items": {"type": "string", "enum": list(values(ReferralStatus))}}),
    ] = None,
    ids: Annotated[
        list[UUID] | None,
        Query(
            alias="id",
            max_length=MAX_IDS,
            description=f"Only these referrals (repeat it, up to {MAX_IDS}): the case API's "
            "claim check fetches a batch of new referrals in one request.",
        ),
        WithJsonSchema({"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": MAX_IDS}),
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ReferralPage:
    """The referrals you may see, oldest first: your organisation's, or every one for the ICTG service."""
    filters = Filters(
        received_since=query_time(received_since, "received_since") if received_since is not None else None,
        reference=reference,
        statuses=tuple(dict.fromkeys(status or ())),
        ids=tuple(dict.fromkeys(ids or ())),
    )
    return await service.page(session, actor=actor, after=pagination.time_key(cursor), limit=limit, filters=filters)
