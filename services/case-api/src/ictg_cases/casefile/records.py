"""The routes every kind of case record gets from its declaration (`ictg_cases.kinds`).

Each listed kind: `GET /v1/cases/{case_id}/<path>` and `GET /v1/cases/{case_id}/<path>/{record_id}`.
Each fact kind also: `POST /v1/cases/{case_id}/<path>` (idempotent, 201 with `Location` and `ETag`),
recorded by `records.service.record_fact`. The writes that change the case's state have their own
routes in their feature's package.
"""

from __future__ import annotations

import inspect
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.idempotency import Idempotency
from ictg_common.service import SessionDep

from ..cases.access import Context, WriteCtx
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent
from ..cases.writes import write_case
from ..kinds import KINDS, RecordKind
from ..records import service
from ..types import CaseId
from .reads import add_record_reads

router = APIRouter()


def add_fact_write(router: APIRouter, kind: RecordKind) -> None:
    """`POST /v1/cases/{case_id}/<path>`: record a fact of `kind`."""
    assert kind.create is not None and kind.out is not None
    out = kind.out

    async def record_fact(
        case_id: UUID, body: BaseModel, session: AsyncSession, ctx: Context, response: Response, idem: Idempotency
    ) -> Any:
        return await write_case(
            session, ctx, idem, response, case_id, action=kind.create_action, out=out,
            location=f"/v1/cases/{{case_id}}/{kind.path}/{{id}}",
            write=lambda case: service.record_fact(session, case, kind, body, actor=ctx.actor, settings=ctx.settings),
        )  # fmt: skip

    # The body's schema is the kind's: FastAPI reads the parameters' types from the signature.
    params = [
        ("case_id", CaseId), ("body", kind.create), ("session", SessionDep), ("ctx", WriteCtx),
        ("response", Response), ("idem", Idempotent),
    ]  # fmt: skip
    record_fact.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=t) for n, t in params]
    )
    router.add_api_route(
        f"/v1/cases/{{case_id}}/{kind.path}", record_fact, methods=["POST"], status_code=201, response_model=out,
        responses=IDEMPOTENT_WRITE_RESPONSES, name=f"record_{kind.noun}", description=kind.doc, tags=[kind.tag],
    )  # fmt: skip


for _kind in KINDS:
    if _kind.fact:
        add_fact_write(router, _kind)
    if _kind.listed:
        add_record_reads(router, _kind)
