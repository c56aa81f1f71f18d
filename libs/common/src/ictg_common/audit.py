"""Append-only audit trail of every read or change of personal data (DESIGN.md §11)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, String, Table, func, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .auth import Actor
from .logs import request_id


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
    session: AsyncSession, *, schema: str, actor: Actor, action: str, resource: str, outcome: str = "ok",
    reason: str | None = None,
) -> None:
    """Append one audit row in the caller's transaction."""
    await record_many(session, schema=schema, actor=actor, action=action, resources=[resource], outcome=outcome, reason=reason)


async def record_many(
    session: AsyncSession, *, schema: str, actor: Actor, action: str, resources: list[str], outcome: str = "ok",
    reason: str | None = None,
) -> None:
    """One row per resource (e.g. every record a list showed), in one round trip."""
    if not resources:
        return
    org = "/".join(p for p in actor.organisation if p) or None
    rid = request_id.get()
    await session.execute(
        text(
            f'INSERT INTO "{schema}".audit (actor, org, action, resource, outcome, request_id, reason) '
            "VALUES (:actor, :org, :action, :resource, :outcome, :rid, :reason)"
        ),
        [{"actor": actor.sub, "org": org, "action": action, "resource": r, "outcome": outcome, "rid": rid,
          "reason": reason} for r in resources],
    )  # fmt: skip


async def record_refusal(
    sessionmaker: async_sessionmaker[AsyncSession], *, schema: str, actor: Actor, action: str, resource: str,
    outcome: str = "denied", reason: str | None = None,
) -> None:
    """Audit a refused access in a transaction of its own (the request's own is rolled back)."""
    async with sessionmaker() as session, session.begin():
        await record(session, schema=schema, actor=actor, action=action, resource=resource, outcome=outcome, reason=reason)
