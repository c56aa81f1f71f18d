"""Append-only audit trail of every read or change of personal data (docs/security.md, "Audit")."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Insert,
    MetaData,
    String,
    Table,
    bindparam,
    column,
    func,
    insert,
    or_,
    select,
    table,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import pagination
from .auth import Actor, require
from .inputs import StorableText
from .logs import request_id
from .service import SessionDep


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("time", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor", String(200), nullable=False),
        Column("org", String(400)),
        Column("action", String(100), nullable=False),
        Column("resource", String(200), nullable=False),
        Column("outcome", String(50), nullable=False),
        Column("request_id", String(100)),
        Column("reason", String(1000)),
        Index("ix_audit_resource", "resource"),
    )


async def record(
    session: AsyncSession,
    *,
    schema: str,
    actor: Actor,
    action: str,
    resource: str,
    outcome: str = "ok",
    reason: str | None = None,
) -> None:
    """Append one audit row in the caller's transaction."""
    await record_many(
        session, schema=schema, actor=actor, action=action, resources=[resource], outcome=outcome, reason=reason
    )


@functools.cache
def record_statement(schema: str) -> Insert:
    """`record`'s statement, built once per schema, its parameters named `audit_*` (`record_params`): a
    write can carry its audit row as a CTE of its own statement (`.add_cte(record_statement(s).cte("audited"))`)."""
    audit = table(
        "audit", *(column(c) for c in ("actor", "org", "action", "resource", "outcome", "request_id", "reason")),
        schema=schema,
    )  # fmt: skip
    return insert(audit).values(
        {c: bindparam(f"audit_{c}", type_=String) for c in ("actor", "org", "action", "resource", "outcome")}
        | {"request_id": bindparam("audit_request_id", type_=String), "reason": bindparam("audit_reason", type_=String)}
    )


def record_params(
    *, actor: Actor, action: str, resource: str, outcome: str = "ok", reason: str | None = None
) -> dict[str, Any]:
    """The parameters of `record_statement` for one row, as `record` writes it."""
    return {
        "audit_actor": actor.sub, "audit_org": "/".join(p for p in actor.organisation if p) or None,
        "audit_action": action, "audit_resource": resource, "audit_outcome": outcome,
        "audit_request_id": request_id.get(), "audit_reason": reason,
    }  # fmt: skip


async def record_many(
    session: AsyncSession,
    *,
    schema: str,
    actor: Actor,
    action: str,
    resources: list[str],
    outcome: str = "ok",
    reason: str | None = None,
) -> None:
    """One row per resource (e.g. every record a list showed), in one round trip."""
    if not resources:
        return
    await session.execute(
        record_statement(schema),
        [record_params(actor=actor, action=action, resource=r, outcome=outcome, reason=reason) for r in resources],
    )


async def record_refusal(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    schema: str,
    actor: Actor,
    action: str,
    resource: str,
    outcome: str = "denied",
    reason: str | None = None,
) -> None:
    """Audit in a transaction of its own: a refused access (the request's own transaction is rolled
    back), or work that outlives the request (a background rebuild)."""
    async with sessionmaker() as session, session.begin():
        await record(
            session, schema=schema, actor=actor, action=action, resource=resource, outcome=outcome, reason=reason
        )


class AuditEntry(BaseModel):
    id: int = Field(description="The entry's number: increases with every entry appended.")
    time: datetime = Field(description="When it happened (RFC 3339, UTC).")
    actor: str = Field(description="Who: the `sub` claim of the caller's token.")
    org: str | None = Field(
        description="The caller's organisation as `org_type/org_name` (e.g. `police/Kent Police`); "
        "null when the token names none."
    )
    action: str = Field(
        description="What was done, e.g. `case.read`, `referral.create`, `break_glass`, `rebuild.start`."
    )
    resource: str = Field(description="The path of what was read or changed, e.g. `/v1/cases/{id}`.")
    outcome: str = Field(
        description="`ok`, `denied` (refused), `break_glass` (reached through break-glass), `granted` or "
        "`extended` (a break-glass grant), or `accepted` (work started in the background)."
    )
    request_id: str | None = Field(
        description="The request's `X-Request-Id` (also in the logs); null when no request was involved."
    )
    reason: str | None = Field(description="The reason given, e.g. for break-glass access; null when none.")


class AuditPage(BaseModel):
    items: list[AuditEntry] = Field(description="Entries of this page, newest first.")
    next_cursor: str | None = Field(description=pagination.NEXT_CURSOR)


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


async def page(
    session: AsyncSession,
    table: Table,
    *,
    resource: str | None,
    actor: str | None,
    before: int | None,
    limit: int,
    action: str | None = None,
    outcome: str | None = None,
) -> list[Any]:
    """Newest first; `resource` matches itself and everything under it (a case and its records)."""
    q = select(table).order_by(table.c.id.desc()).limit(limit)
    if action is not None:
        q = q.where(table.c.action == action)
    if outcome is not None:
        q = q.where(table.c.outcome == outcome)
    if resource is not None:
        q = q.where(or_(table.c.resource == resource, table.c.resource.like(_like_prefix(resource), escape="\\")))
    if actor is not None:
        q = q.where(table.c.actor == actor)
    if before is not None:
        q = q.where(table.c.id < before)
    return list((await session.execute(q)).all())


Auditor = Annotated[Actor, require("audit:read")]


def audit_router(table: Table) -> APIRouter:
    """`GET /v1/audit` over one service's audit table (scope audit:read)."""
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    @router.get("", response_model=AuditPage)
    async def list_audit(
        session: SessionDep,
        _actor: Auditor,
        resource: Annotated[
            StorableText | None,
            Query(
                max_length=200,
                examples=["/v1/cases/0190…"],
                description="Only entries for this path and everything under it (a case and its records).",
            ),
        ] = None,
        actor: Annotated[
            StorableText | None, Query(max_length=200, description="Only entries by this actor (a token's `sub`).")
        ] = None,
        action: Annotated[
            StorableText | None,
            Query(
                max_length=100, examples=["break_glass"], description="Only entries of this action, e.g. `break_glass`."
            ),
        ] = None,
        outcome: Annotated[
            StorableText | None,
            Query(max_length=50, examples=["denied"], description="Only entries of this outcome, e.g. `denied`."),
        ] = None,
        cursor: Annotated[str | None, Query(max_length=20, description=pagination.CURSOR)] = None,
        limit: Annotated[int, Query(ge=1, le=500, description=pagination.LIMIT)] = 100,
    ) -> AuditPage:
        """Who read or changed what, newest first. `resource` includes what lies under it;
        `action=break_glass` lists every break-glass grant, `outcome=denied` every refusal."""
        rows = await page(
            session, table, resource=resource, actor=actor, action=action, outcome=outcome,
            before=pagination.int_key(cursor), limit=limit + 1,
        )  # fmt: skip
        items, next_cursor = pagination.split(rows, limit, lambda r: str(r.id))
        return AuditPage(items=[AuditEntry.model_validate(r._mapping) for r in items], next_cursor=next_cursor)

    return router
