"""Referrals: receiving one (its rules and derived attributes from `derivation`, duplicates, the event),
and the whole of each endpoint's work (`create`, `read`, `page`), so that a router makes one call."""

from __future__ import annotations

import difflib
import unicodedata
from datetime import datetime
from typing import cast
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import audit, clock, pagination
from ictg_common.auth import Actor
from ictg_common.codes import OrganisationType
from ictg_common.contracts import Exploitation, ReferralReceived, Timeliness, make_event
from ictg_common.errors import Forbidden, NotFound, ValidationFailed, field_error
from ictg_common.events import new_id
from ictg_common.outbox import emit_params

from ..models import SCHEMA, Referral
from ..settings import IntakeSettings
from . import access, repository
from .casestatus import status_of
from .derivation import check_dates, derive
from .schemas import Referral as ReferralOut
from .schemas import ReferralCreate, ReferralPage

COLLECTION = "/v1/referrals"
CREATE = "referral.create"  # the audit action of a referral's creation (and `.replay` of a retry's answer)


def location(referral_id: UUID) -> str:
    """A referral's URL."""
    return f"{COLLECTION}/{referral_id}"


def name_key(given: str, family: str | None) -> str:
    raw = f"{given} {family or ''}"
    ascii_ = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode().lower()
    # Normalisation can lengthen text (e.g. one ligature becomes several letters): bound it to the column.
    return " ".join(sorted("".join(c if c.isalnum() else " " for c in ascii_).split()))[:200]


def similar_names(a: str, b: str) -> bool:
    return _SimilarTo(b)(a)


def _similar(m: difflib.SequenceMatcher[str]) -> bool:
    # The quick ratios are upper bounds of `ratio()` (as in `difflib.get_close_matches`): the same
    # answer, without the full comparison for most names that differ.
    return m.real_quick_ratio() >= 0.8 and m.quick_ratio() >= 0.8 and m.ratio() >= 0.8


class _SimilarTo:
    """`similar_names(a, name)` for one `name` and many `a`: the matcher keeps what it learns of its
    second sequence (its index and letter counts) across `set_seq1`, so that is done once per name, not
    once per candidate, the same answers (a crowd of candidates cost a referral 25 ms, mostly there)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.matcher = difflib.SequenceMatcher(None, "", name)

    def __call__(self, a: str) -> bool:
        if a == self.name:
            return True
        self.matcher.set_seq1(a)
        return _similar(self.matcher)


def child_names(body: ReferralCreate) -> list[str]:
    """Every name the referral gives the child, as name keys: given and family name first, then each
    other name (an alias with no letter or digit is no name to match on)."""
    child = body.child
    keys = [name_key(child.given_name, child.family_name)]
    keys += [k for other in child.other_names if (k := name_key(other, None)) and k not in keys]
    return keys


def duplicates(names: list[str], candidates: list[repository.Candidate]) -> dict[UUID, tuple[str, str]]:
    """Which candidates are possible duplicates, and who filed each: one of their names is similar
    to one of `names` (`similar_names`; the SQL only narrowed the candidates down). Pure."""
    found: dict[UUID, tuple[str, str]] = {}
    verdicts: dict[str, bool] = {}  # a common name is the name of many candidates: compare it once
    matchers = [_SimilarTo(n) for n in names] if candidates else []
    for c in candidates:
        if c.id in found:
            continue
        if (similar := verdicts.get(c.name_key)) is None:
            similar = verdicts[c.name_key] = any(similar_to(c.name_key) for similar_to in matchers)
        if similar:
            found[c.id] = c.org
    return found


def to_out(r: Referral, *, duplicates: list[UUID]) -> ReferralOut:
    b, d = r.body, r.derived
    return ReferralOut.model_validate(
        {
            **{k: v for k, v in b.items() if k != "received_at"},
            "referrer": {**b["referrer"], "organisation_type": r.org_type, "organisation_name": r.org_name},
            "id": r.id, "received_at": r.received_at, "possible_duplicate_of": duplicates,
            **d,
            "status": status_of(r), "case_opened_at": r.case_opened_at, "allocated_at": r.allocated_at,
            "exited_at": r.exited_at, "version": r.version, "amended_at": r.amended_at,
            "withdrawal": None if r.withdrawn_at is None else {
                "withdrawn_at": r.withdrawn_at, "reason": r.withdrawal_reason, "detail": r.withdrawal_detail,
            },
        }
    )  # fmt: skip


async def shown(session: AsyncSession, referrals: list[Referral], *, actor: Actor) -> list[ReferralOut]:
    """Referrals as `actor` may see them. The service sees every duplicate link; a first responder
    sees links to its own organisation's referrals only (another force's referral of the same
    child is not theirs to know about)."""
    linked = {d for r in referrals for d in r.possible_duplicate_of}
    org = access.whose_referrals(actor)
    visible = (
        linked if org is None or not linked else set(await repository.of_organisation(session, list(linked), org=org))
    )
    return [to_out(r, duplicates=[d for d in r.possible_duplicate_of if d in visible]) for r in referrals]


def filing_organisation(body: ReferralCreate, actor: Actor) -> tuple[str, str]:
    """Whose referral this is. A first responder files under its token's organisation; only a
    historical import (migrating many organisations' records) may name another."""
    if actor.has("referrals:import"):
        return body.referrer.organisation_type, body.referrer.organisation_name
    if not actor.org_type or not actor.org_name:
        raise Forbidden(
            "This token names no organisation (claims org_type and org_name); a referral is filed under one."
        )
    errors = []
    if body.referrer.organisation_type != actor.org_type:
        errors.append(
            field_error("/referrer/organisation_type", f"must be your organisation's type, {actor.org_type!r}")
        )
    if " ".join(body.referrer.organisation_name.split()).casefold() != " ".join(actor.org_name.split()).casefold():
        errors.append(field_error("/referrer/organisation_name", f"must be your organisation, {actor.org_name!r}"))
    if errors:
        raise ValidationFailed("The referrer is not the organisation your token names.", errors=errors)
    return actor.org_type, actor.org_name


def event_data(r: Referral) -> ReferralReceived:
    """What the stream may know: ids, codes, dates, derived attributes — no names, contacts, DOB, notes."""
    b, d = r.body, r.derived
    child, circ = b["child"], b["circumstances"]
    return ReferralReceived(
        referral_id=r.id,
        received_at=r.received_at,
        identified_on=b["identified_on"],
        referrer_type=cast(OrganisationType, r.org_type),  # the body's code, or the token's
        local_authority_code=b["local_authority_code"],
        region=d["region"],
        pathway=d["pathway"],
        gender=child["gender"],
        age_at_referral=d["age_at_referral"],
        age_band=d["age_band"],
        age_disputed=child["age_disputed"],
        nationality=child["nationality"],
        nationality_group=d["nationality_group"],
        interpreter_required=child["interpreter_required"],
        uasc=circ["uasc"],
        exploitation=Exploitation.model_validate(b["exploitation"]),
        missing_at_referral=b["missing_at_referral"],
        nrm_referred=b["nrm"]["referred"],
        living_situation=circ["living_situation"],
        trafficker_contact=circ["trafficker_contact"],
        education=circ["education"],
        cjs_involvement=circ["cjs_involvement"],
        timeliness=Timeliness.model_validate(d["timeliness"]),
        possible_duplicate_of=list(r.possible_duplicate_of),
    )


async def receive(
    session: AsyncSession, body: ReferralCreate, *, actor: Actor, settings: IntakeSettings
) -> tuple[Referral, dict[UUID, tuple[str, str]]]:
    """Store the referral, its event and its audit row; it is returned with who filed each of its
    possible duplicates."""
    now = clock.utcnow()
    if body.received_at is not None and not actor.has("referrals:import"):
        raise Forbidden("Only a historical import (scope referrals:import) may set received_at.")
    org_type, org_name = filing_organisation(body, actor)
    received_at = body.received_at or now
    errors = check_dates(body, received_at=received_at, now=now)
    if errors:
        raise ValidationFailed(f"{len(errors)} field(s) failed validation.", errors=errors)

    stored = body.model_dump(mode="json", exclude={"received_at"})
    names = child_names(body)
    found = duplicates(
        names,
        await repository.candidates(
            session, names=names, nationality=body.child.nationality,
            date_of_birth=body.child.date_of_birth, estimated_age=body.child.estimated_age,
            received_on=clock.london_date(received_at),
        ),
    )  # fmt: skip
    derived = derive(body, received_at=received_at, settings=settings)
    referral = Referral(
        id=new_id(),
        received_at=received_at,
        identified_on=body.identified_on,
        org_type=org_type,
        org_name=org_name,
        submitted_by=actor.sub,
        local_authority_code=body.local_authority_code,
        date_of_birth=body.child.date_of_birth,
        estimated_age=body.child.estimated_age,
        nationality=body.child.nationality,
        referrer_reference=body.referrer.reference,
        allocated=False,
        version=1,
        name_key=names[0],
        body=stored,
        possible_duplicate_of=list(found),
        region=derived.region,
        pathway=derived.pathway,
        derived=derived.stored(),
    )
    event = make_event(data=event_data(referral), subject=referral.id, time=received_at)
    await repository.add(
        session, referral, names=names,
        event=emit_params(event, schema=SCHEMA, subject_prefix=settings.subject_prefix),
        audited=audit.record_params(actor=actor, action=CREATE, resource=location(referral.id)),
    )  # fmt: skip
    return referral, found


async def create(
    session: AsyncSession,
    body: ReferralCreate,
    *,
    actor: Actor,
    settings: IntakeSettings,
    refusals: async_sessionmaker[AsyncSession],
) -> ReferralOut:
    """`POST /v1/referrals`: the referral received (its event and its creation audited with it) and
    shown as `actor` may see it, in the request's transaction. A refusal (filing for another
    organisation, or `received_at` without the import scope) is audited in a transaction of its own
    (`refusals`), since the request's rolls back."""
    try:
        referral, filed_by = await receive(session, body, actor=actor, settings=settings)
    except Forbidden:
        await audit.record_refusal(refusals, schema=SCHEMA, actor=actor, action=CREATE, resource=COLLECTION)
        raise
    # Who filed each duplicate came with it: no query to learn which links `actor` may see.
    return to_out(referral, duplicates=[d for d, org in filed_by.items() if access.may_see_filed_by(actor, org)])


async def read(
    session: AsyncSession, referral_id: UUID, *, actor: Actor, refusals: async_sessionmaker[AsyncSession]
) -> ReferralOut:
    """One referral as `actor` may see it, the read audited; `NotFound` (the refusal audited in a
    transaction of its own) when there is none or it is not theirs to see."""
    resource = f"{COLLECTION}/{referral_id}"
    r = await repository.get(session, referral_id)
    if r is None or not access.may_see(actor, r):
        await audit.record_refusal(refusals, schema=SCHEMA, actor=actor, action="referral.read", resource=resource)
        raise NotFound("No such referral.")
    await audit.record(session, schema=SCHEMA, actor=actor, action="referral.read", resource=resource)
    [out] = await shown(session, [r], actor=actor)
    return out


async def page(
    session: AsyncSession,
    *,
    actor: Actor,
    after: tuple[datetime, UUID] | None,
    limit: int,
    filters: repository.Filters | None = None,
) -> ReferralPage:
    """A keyset page of the referrals `actor` may see (and `filters` keep), oldest first, each one audited."""
    rows = await repository.page(
        session, after=after, org=access.whose_referrals(actor), limit=limit + 1, filters=filters
    )
    items, next_cursor = pagination.split(rows, limit, lambda r: pagination.encode_time_key(r.received_at, r.id))
    # One audit row per referral shown: the trail of a child's record must include list reads.
    await audit.record_many(
        session, schema=SCHEMA, actor=actor, action="referral.list", resources=[f"{COLLECTION}/{r.id}" for r in items]
    )
    return ReferralPage(items=await shown(session, items, actor=actor), next_cursor=next_cursor)
