"""The referrer corrects and withdraws its own referral (`PATCH /v1/referrals/{id}`, `POST …/withdraw`).

Only the organisation that filed a referral may change it; anyone else is answered 404, as for a read.
Each change names the version it was made against (`If-Match`: 428 without it, 412 when stale), is
validated exactly as a new referral is (the corrected referral, whole, through `ReferralCreate` and
`derivation.check_dates`), and is stored with its event and its audit row in the request's transaction:

- a correction re-derives what intake derives (region and pathway from the local authority, age, bands),
  keeps the timeliness clock where it started (received_at and the deadlines never move), re-runs the
  duplicate check with the corrected names, and publishes `referral.amended` with the names of the fields
  it changed, never their values;
- a withdrawal publishes `referral.withdrawn` with its reason (the free-text detail stays here: it may
  name the child), and `referral.status_changed` for the referrer's own systems. A withdrawn referral takes
  no more corrections and no second withdrawal (409).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import audit, clock
from ictg_common.auth import Actor
from ictg_common.contracts import ReferralAmended, ReferralStatusChanged, ReferralWithdrawn, make_event
from ictg_common.errors import Conflict, NotFound, ValidationFailed, field_error, message, pointer
from ictg_common.outbox import emit
from ictg_common.preconditions import require_match

from ..models import SCHEMA, Referral
from ..settings import IntakeSettings
from . import correction_repository, repository, service
from .casestatus import status_of
from .correction_schemas import WithdrawalCreate
from .derivation import check_dates, derive
from .schemas import Referral as ReferralOut
from .schemas import ReferralCreate

AMEND = "referral.amend"  # audit actions
WITHDRAW = "referral.withdraw"

# What a correction may not change, and why (anything else the body does not know is refused by `ReferralCreate`).
FIXED = {
    "/id": "the referral's id never changes",
    "/received_at": "when the referral was received never changes: the timeliness clock started then",
    "/referrer/organisation_type": "the referral stays filed under your organisation",
    "/referrer/organisation_name": "the referral stays filed under your organisation",
    "/missing_at_referral": "cannot be corrected once the case has opened: tell the child's guardian instead",
}
DERIVED = ("local_authority_name", "region", "pathway", "age_at_referral", "age_band", "nationality_group",
           "possible_duplicate_of", "timeliness", "status", "case_opened_at", "allocated_at", "exited_at",
           "version", "amended_at", "withdrawal")  # fmt: skip


class AlreadyWithdrawn(Conflict):
    title, slug = "Referral withdrawn", "referral-withdrawn"


# ---- pure ----


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, `null` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def changed_fields(before: Any, after: Any, prefix: str = "") -> list[str]:
    """The dotted names of the leaves that differ between two bodies (a list is one leaf), sorted."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key in sorted(before.keys() | after.keys()):
            found += changed_fields(before.get(key), after.get(key), f"{prefix}{key}.")
        return found
    return [] if before == after else [prefix.rstrip(".")]


def refused(patch: dict[str, Any]) -> list[dict[str, str]]:
    """What the patch may not touch: the fixed fields, and what intake derives itself."""
    errors = []
    for where, why in FIXED.items():
        node: Any = patch
        for part in where.strip("/").split("/"):
            node = node.get(part, ...) if isinstance(node, dict) else ...
        if node is not ...:
            errors.append(field_error(where, f"cannot be corrected: {why}", "not_correctable"))
    errors += [
        field_error(f"/{k}", "is derived by the service from what you send: correct what it is derived from",
                    "not_correctable")
        for k in DERIVED if k in patch
    ]  # fmt: skip
    return errors


def corrected(stored: dict[str, Any], patch: dict[str, Any]) -> ReferralCreate:
    """The referral as the patch corrects it, validated as a new one is (422 with pointers otherwise)."""
    try:
        return ReferralCreate.model_validate(merge_patch(stored, patch))
    except ValidationError as exc:
        errors = [field_error(pointer(e["loc"]), message(dict(e)), e["type"]) for e in exc.errors()]
        raise ValidationFailed(f"{len(errors)} field(s) failed validation.", errors=errors) from None


# ---- the endpoints' work ----


async def _own(
    session: AsyncSession, referral_id: UUID, *, actor: Actor, action: str, refusals: async_sessionmaker[AsyncSession]
) -> Referral:
    """The referral, locked, if `actor`'s organisation filed it; `NotFound` otherwise (the refusal audited)."""
    r = await correction_repository.lock(session, referral_id)
    if r is None or not actor.org_type or not actor.org_name or actor.organisation != (r.org_type, r.org_name):
        await audit.record_refusal(
            refusals, schema=SCHEMA, actor=actor, action=action, resource=service.location(referral_id)
        )
        raise NotFound("No such referral.")
    return r


def _still_open(r: Referral) -> None:
    if r.withdrawn_at is not None:
        raise AlreadyWithdrawn(
            f"You withdrew this referral at {r.withdrawn_at.isoformat()} ({r.withdrawal_reason}): it can no longer "
            "be corrected or withdrawn. Make a new referral if the child needs one.",
        )


async def _shown(session: AsyncSession, r: Referral, *, actor: Actor) -> ReferralOut:
    [out] = await service.shown(session, [r], actor=actor)
    return out


async def amend(
    session: AsyncSession,
    referral_id: UUID,
    patch: dict[str, Any],
    *,
    actor: Actor,
    if_match: str | None,
    settings: IntakeSettings,
    refusals: async_sessionmaker[AsyncSession],
) -> ReferralOut:
    """`PATCH /v1/referrals/{id}`: the correction stored, evented and audited; the referral as it now stands.
    A patch that changes nothing changes nothing (no new version, no event)."""
    r = await _own(session, referral_id, actor=actor, action=AMEND, refusals=refusals)
    require_match(if_match, r.version, noun="referral")
    _still_open(r)
    if errors := refused(patch):
        raise ValidationFailed(f"{len(errors)} field(s) cannot be corrected.", errors=errors)
    body = corrected(r.body, patch)
    now = clock.utcnow()
    if errors := check_dates(body, received_at=r.received_at, now=now):
        raise ValidationFailed(f"{len(errors)} field(s) failed validation.", errors=errors)
    stored = body.model_dump(mode="json", exclude={"received_at"})
    fields = changed_fields(r.body, stored)
    resource = service.location(r.id)
    if fields:
        await _apply(session, r, body, stored, now=now, settings=settings)
        amended = ReferralAmended(referral_id=r.id, amended_at=now, fields=fields)
        await emit(session, make_event(data=amended, subject=r.id, time=now), schema=SCHEMA,
                   subject_prefix=settings.subject_prefix)  # fmt: skip
    await audit.record(session, schema=SCHEMA, actor=actor, action=AMEND, resource=resource,
                       reason=(", ".join(fields) or "no change")[:1000])  # fmt: skip
    return await _shown(session, r, actor=actor)


async def _apply(
    session: AsyncSession, r: Referral, body: ReferralCreate, stored: dict[str, Any], *, now: Any,
    settings: IntakeSettings,
) -> None:  # fmt: skip
    """Store the corrected referral: what is derived from it again, its names and duplicates, a new version."""
    derived = derive(body, received_at=r.received_at, settings=settings).stored()
    # The clock started at receipt and its deadlines stay where the case API has them; the delay may change.
    derived["timeliness"] |= {k: r.derived["timeliness"][k] for k in ("allocation_due_by", "first_contact_due_by")}
    names = service.child_names(body)
    candidates = await repository.candidates(
        session, names=names, nationality=body.child.nationality, date_of_birth=body.child.date_of_birth,
        estimated_age=body.child.estimated_age, received_on=clock.london_date(r.received_at),
    )  # fmt: skip
    found = service.duplicates(names, [c for c in candidates if c.id != r.id])
    r.body, r.derived = stored, derived
    r.identified_on, r.local_authority_code = body.identified_on, body.local_authority_code
    r.region, r.pathway = derived["region"], derived["pathway"]
    r.date_of_birth, r.estimated_age = body.child.date_of_birth, body.child.estimated_age
    r.nationality, r.name_key, r.referrer_reference = body.child.nationality, names[0], body.referrer.reference
    r.possible_duplicate_of = list(found)
    r.amended_at, r.version = now, r.version + 1
    await session.flush()
    await correction_repository.replace_names(session, r, names=names)


async def withdraw(
    session: AsyncSession,
    referral_id: UUID,
    body: WithdrawalCreate,
    *,
    actor: Actor,
    if_match: str | None,
    settings: IntakeSettings,
    refusals: async_sessionmaker[AsyncSession],
) -> ReferralOut:
    """`POST /v1/referrals/{id}/withdraw`: the referral withdrawn, evented and audited."""
    r = await _own(session, referral_id, actor=actor, action=WITHDRAW, refusals=refusals)
    require_match(if_match, r.version, noun="referral")
    _still_open(r)
    now = clock.utcnow()
    r.withdrawn_at, r.withdrawal_reason, r.withdrawal_detail = now, body.reason, body.detail
    r.version += 1
    await session.flush()
    withdrawn = ReferralWithdrawn(referral_id=r.id, withdrawn_at=now, reason=body.reason)
    changed = ReferralStatusChanged(
        referral_id=r.id, org_type=r.org_type, org_name=r.org_name, referrer_reference=r.referrer_reference,
        status=status_of(r), case_opened_at=r.case_opened_at, allocated_at=r.allocated_at, exited_at=r.exited_at,
        withdrawn_at=now,
    )  # fmt: skip
    for data in (withdrawn, changed):
        await emit(session, make_event(data=data, subject=r.id, time=now), schema=SCHEMA,
                   subject_prefix=settings.subject_prefix)  # fmt: skip
    await audit.record(session, schema=SCHEMA, actor=actor, action=WITHDRAW, resource=service.location(r.id),
                       reason=body.reason)  # fmt: skip
    return await _shown(session, r, actor=actor)
