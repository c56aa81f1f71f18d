"""`Idempotency-Key` on writes (IETF draft-ietf-httpapi-idempotency-key-header), for every service.

Protocol, all inside the request's own transaction (the `SessionDep` unit of work):

1. `Idempotency.replay` takes a transaction-scoped advisory lock on (schema, client, key) with
   `pg_try_advisory_xact_lock`. Not granted: the same key is in flight in another request, so 409
   with `Retry-After` (never a wait, never a second write). Granted: the key is looked up. Stored
   with another fingerprint: 422. Stored with this one: the first answer is returned again (same
   status, body, `Location` and `ETag`, plus `Idempotency-Replayed: true`), audited as
   `<action>.replay`, and the handler does nothing else — no `If-Match`, no case-state check: a
   finished key's answer stands even if the resource has changed since.
2. Otherwise the handler writes, and `Idempotency.save` stores the answer in the same transaction,
   so a crash keeps both the write and its key or neither. The lock is held until commit: a twin
   request arriving meanwhile gets 409, one arriving after sees the stored answer.

Keys are per client: the token's principal (issuer, organisation and `sub`, as `Actor.principal_key`),
never `sub` alone, which two organisations' tokens may share. The fingerprint covers method, path (with query) and the
JSON body (canonical: key order and whitespace do not matter), so the same key on another case or
with another body is refused with 422. An answer is kept `idempotency_hours` (≥ 24, a setting of
each service); expired keys are forgotten, and pruned a hundred at a time as new keys arrive.
Only successful writes are remembered: a request that fails rolls back, key and all, and its retry
runs afresh.

An endpoint adds it in two lines (`Idempotent = Annotated[Idempotency, idempotent(table)]`)::

    if (replay := await idem.replay(session, action="contact.create")) is not None:
        return replay
    ...  # the write, then:
    return await idem.save(session, Contact.model_validate(row), response)

The dependency documents the header parameter in OpenAPI; `documented(responses)` adds the 400,
409 (with `Retry-After`) and 422 the header can cause to the endpoint's own responses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import JSON, insert
from sqlalchemy.ext.asyncio import AsyncSession

from . import audit, clock
from .auth import Actor, CurrentActor
from .errors import Conflict, Problem, ValidationFailed, field_error
from .runtime import runtime_of

HEADER = "Idempotency-Key"
REPLAYED = "Idempotency-Replayed"
MAX_LENGTH = 200
# What a replay repeats besides status and body: where the record is, and the case's version.
REPLAYED_HEADERS = ("Location", "ETag")
RETRY_AFTER_SECONDS = 1
POINTER = f"#header/{HEADER}"

M = TypeVar("M", bound=BaseModel)


def idempotency_table(metadata: MetaData) -> Table:
    """The `idempotency_key` table in the service's own schema (include it in its migrations)."""
    return Table(
        "idempotency_key",
        metadata,
        Column("client", String(200), primary_key=True),
        Column("key", String(MAX_LENGTH), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        # `json`, not `jsonb`: the body is kept as written, so a replay repeats it key for key.
        Column("response", JSON, nullable=False),
        Column("headers", JSON, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    )


class IdempotencyKeyInvalid(Problem):
    status, title, slug = 400, "Invalid Idempotency-Key", "idempotency-key-invalid"


class IdempotencyKeyReused(ValidationFailed):
    title, slug = "Idempotency-Key reused", "idempotency-key-reused"


class IdempotencyConflict(Conflict):
    """The same key is still being processed by another request (the first one has not finished)."""

    slug = "idempotency-in-flight"


def valid_key(raw: str | None) -> str | None:
    """The key as sent, None when absent; 400 when empty, too long or holding control characters."""
    if raw is None:
        return None
    problem = None
    if not raw.strip():
        problem = "is empty: send a unique value (e.g. a UUID), or leave the header out"
    elif len(raw) > MAX_LENGTH:
        problem = f"is longer than {MAX_LENGTH} characters"
    elif any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in raw):
        problem = "contains control characters"
    if problem is not None:
        raise IdempotencyKeyInvalid(f"The {HEADER} header {problem}.", errors=[field_error(POINTER, problem)])
    return raw


def fingerprint(method: str, target: str, body: bytes) -> str:
    """What identifies "the same request": method, path (with query) and the body. A JSON body is
    canonicalised first, so a retry that re-serialises its body differently is still the same."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:  # not JSON (or not UTF-8): the bytes themselves
        canonical = body
    digest = hashlib.sha256(canonical).hexdigest()
    return hashlib.sha256(f"{method.upper()} {target}\n{digest}".encode()).hexdigest()


@dataclass(frozen=True)
class Idempotency:
    """One request's `Idempotency-Key` (or its absence: then `replay` and `save` do nothing)."""

    table: Table
    request: Request
    actor: Actor
    key: str | None
    fingerprint: str
    hours: int

    async def replay(
        self, session: AsyncSession, *, action: str, allowed: Callable[[], Awaitable[None]] | None = None
    ) -> JSONResponse | None:
        """The stored first answer for this key (audited as `<action>.replay`), or None to go ahead
        with the write — the key's lock is then held until the transaction ends.

        Call it before anything that could refuse the retry of a finished write (ETag, state).
        `allowed` is awaited before an answer is given again and raises to refuse it: the client
        must still be allowed to see what it wrote (e.g. the case is still in its regions)."""
        if self.key is None:
            return None
        lock = f"{self.table.schema}\x1f{self.actor.principal_key}\x1f{self.key}"
        got = await session.execute(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": lock})
        if not got.scalar():
            raise IdempotencyConflict(
                f"A request with this {HEADER} is still being processed; retry shortly.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        t = self.table
        mine = (t.c.client == self.actor.principal_key) & (t.c.key == self.key)
        # An expired key is forgotten: the request goes ahead as a new one (`save` then overwrites it).
        found = (await session.execute(select(t).where(mine, t.c.created_at >= self._cutoff()))).one_or_none()
        if found is None:
            return None
        if found.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(
                f"This {HEADER} was used with a different request (method, path or body); use a new key.",
                errors=[field_error(POINTER, "reused with a different request")],
            )
        if allowed is not None:
            await allowed()
        headers: dict[str, str] = {**found.headers, REPLAYED: "true"}
        await audit.record(
            session, schema=str(t.schema), actor=self.actor, action=f"{action}.replay",
            resource=found.headers.get("Location") or self.request.url.path,
        )  # fmt: skip
        return JSONResponse(found.response, status_code=found.status_code, headers=headers)

    async def save(self, session: AsyncSession, result: M, response: Response, *, status_code: int | None = None) -> M:
        """Remember `result` as this key's answer (status: the route's unless given; headers: those of
        `REPLAYED_HEADERS` set on `response`), in the caller's transaction. Returns `result`."""
        if self.key is None:
            return result
        route = self.request.scope.get("route")
        status = status_code or response.status_code or getattr(route, "status_code", None) or 200
        now = clock.utcnow()
        t = self.table
        # Amortised clean-up: each new key removes up to a hundred expired ones, in the same statement (a
        # round trip fewer). This key, if it had expired, is not among them: its row is overwritten.
        cutoff = self._cutoff(now)
        this = tuple_(t.c.client, t.c.key)
        expired = select(t.c.client, t.c.key).where(
            t.c.created_at < cutoff, this != (self.actor.principal_key, self.key)
        )
        cleanup = delete(t).where(this.in_(expired.limit(100)), t.c.created_at < cutoff).cte("cleanup")
        row = insert(t).values(
            client=self.actor.principal_key, key=self.key, fingerprint=self.fingerprint, status_code=status,
            response=result.model_dump(mode="json", by_alias=True),
            headers={h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers},
            created_at=now,
        )  # fmt: skip
        stored = await session.execute(
            row.on_conflict_do_update(
                index_elements=[t.c.client, t.c.key],
                set_={c: row.excluded[c] for c in ("fingerprint", "status_code", "response", "headers", "created_at")},
                where=t.c.created_at < cutoff,  # only an expired key (`replay` found no live one under the lock)
            )
            .add_cte(cleanup)
            .returning(t.c.key)
        )
        if stored.first() is None:  # a live answer under this key after all: never keep two writes for one key
            raise IdempotencyConflict(
                f"Another request with this {HEADER} has just finished; retry to get its answer.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return result

    def _cutoff(self, now: datetime | None = None) -> datetime:
        return (now or clock.utcnow()) - timedelta(hours=self.hours)


KeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description=(
            "A unique value per write (e.g. a UUID), at most 200 characters. A retry with the same key and the "
            "same request gets the first answer again (header `Idempotency-Replayed: true`) instead of a second "
            "write; the same key with another request is refused (422); while the first is still in flight, 409 "
            "with `Retry-After`. Keys are per client and kept at least 24 hours."
        ),
        json_schema_extra={"minLength": 1, "maxLength": MAX_LENGTH},
    ),
]


def idempotent(table: Table) -> Any:
    """Dependency: this request's `Idempotency`, keyed in `table` (the service's `idempotency_table`).
    Documents the `Idempotency-Key` header parameter of the endpoint that uses it."""

    async def dependency(request: Request, actor: CurrentActor, key: KeyHeader = None) -> Idempotency:
        checked = valid_key(key)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Idempotency(
            table=table,
            request=request,
            actor=actor,
            key=checked,
            fingerprint=fingerprint(request.method, target, await request.body()) if checked is not None else "",
            hours=runtime_of(request.app).settings.idempotency_hours,
        )

    return Depends(dependency)


def _problem(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        **extra,
    }


IN_FLIGHT = "a request with the same Idempotency-Key is still in flight (retry after `Retry-After` seconds)"


def documented(responses: dict[int | str, dict[str, Any]] | None = None) -> dict[int | str, dict[str, Any]]:
    """`responses` of an idempotent write: its own, with the 400, 409 and 422 of `Idempotency-Key` added."""
    responses = dict(responses or {})

    def joined(status: int, own: str | None, addition: str) -> str:
        own = responses.get(status, {}).get("description") or own
        return f"{own}; or {addition}" if own else addition[0].upper() + addition[1:]

    responses[400] = _problem(joined(400, "Malformed request", "an empty or invalid Idempotency-Key"))
    responses[409] = _problem(
        joined(409, None, IN_FLIGHT),
        headers={"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}},
    )
    responses[422] = _problem(joined(422, "Validation failed", "the Idempotency-Key was used with another request"))
    return responses
