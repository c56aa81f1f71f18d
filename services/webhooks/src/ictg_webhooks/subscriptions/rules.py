"""What an organisation may subscribe to: pure rules, no I/O (tested without a database)."""

from __future__ import annotations

from ictg_common import policy
from ictg_common.auth import FIRST_RESPONDERS, Actor
from ictg_common.contracts import ReferralStatusChanged
from ictg_common.errors import Forbidden, ValidationFailed, field_error

STATUS = ReferralStatusChanged.TYPE


def organisation(actor: Actor) -> tuple[str, str]:
    """The organisation the caller's subscriptions belong to; `Forbidden` when the token names none."""
    org_type, org_name = actor.organisation
    if not org_type or not org_name:
        raise Forbidden("Webhooks belong to an organisation: the token needs org_type and org_name.")
    return org_type, org_name


def types_for(actor: Actor, asked: list[str]) -> list[str]:
    """The event types an organisation may subscribe to (`ictg_common.policy`): the service's staff any,
    a council those the council API shows of its children, anyone else no child-level event (so none
    but its own subscriptions' `webhook.*` events, which it gets without asking)."""
    receivable = policy.receivable(actor.org_type)
    if receivable is None:
        return asked
    council = policy.audience(actor.org_type) == "council"
    if not council and actor.org_type not in FIRST_RESPONDERS:
        raise Forbidden(
            f"An organisation of type {actor.org_type!r} receives no events about children by webhook: they go to "
            "councils (their own children), to first responders (how the referrals they filed stand) and to the "
            "ICTG service."
        )
    refused = sorted(set(asked) - receivable)
    if refused:
        why = "the service's own records" if council else f"a first responder gets {STATUS} of its own referrals"
        detail = f"not for your organisation: {', '.join(refused)} ({why})"
        raise ValidationFailed(f"These event types are {detail}.", errors=[field_error("/event_types", detail)])
    return asked


def codes_for(actor: Actor, asked: list[str]) -> list[str]:
    """A council subscribes to its own authorities only (all of them when it names none); a first responder's
    subscription follows the referrals it filed, not authorities."""
    if not actor.council:
        if asked and policy.audience(actor.org_type) != "staff":
            detail = "a first responder's subscription follows the referrals it filed, wherever the child is"
            raise ValidationFailed(f"local_authority_codes: {detail}.",
                                   errors=[field_error("/local_authority_codes", detail)])  # fmt: skip
        return asked
    if not actor.la_codes:
        raise Forbidden("A council's token names the authorities it answers for (claim la_codes): this one names none.")
    codes, foreign = actor.authorities(asked)
    if foreign:
        raise Forbidden(actor.not_held(foreign))
    return sorted(codes)
